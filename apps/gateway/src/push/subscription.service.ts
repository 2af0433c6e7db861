import { Inject, Injectable, Logger } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import { LoggedEvent, ServerEvent, SubscribeBatchResult, SubscribeOneRequest, WATCH_ALL_FOLDERS } from '@pushmail/contracts';
import { EventLogService, compareEventIds } from '@pushmail/event-log';
import { MetricsService } from '@pushmail/observability';
import { MailboxValidities } from '@pushmail/mailbox-cursors';
import { CommandError, forbidden } from '../socket/ack';
import { DeliveryTarget, DeliveryTransport } from './delivery-target';
import { EventChannelService } from './event-channel.service';

const REPLAY_PAGE = 500;
/** Accounts of one batch subscribed at the same time: enough to hide Redis round trips, few enough to stay fair. */
const BATCH_CONCURRENCY = 16;

interface BufferedEvent {
  event: LoggedEvent;
  seenAt?: number;
}

/** One target's subscription to one account. */
interface Subscription {
  target: DeliveryTarget;
  accountId: string;
  /** The newest eventId this target has been given (or asked to start after). */
  last: string;
  /**
   * Live events that arrive while the log is being read. Non-null means "catching up": live events
   * wait here and are emitted after the replay, minus those the replay already covered.
   */
  buffer: BufferedEvent[] | null;
  /** Held when the events channel dropped: waits for {@link SubscriptionService.resyncAll}. */
  held?: boolean;
}

/** The position just before a stream id, so a replay "after" it starts with that entry. */
export function eventIdBefore(id: string): string {
  const [ms, seq] = id.split('-').map(BigInt);
  if (seq > 0n) return `${ms}-${seq - 1n}`;
  return ms > 0n ? `${ms - 1n}-18446744073709551615` : '0-0';
}

/**
 * Who on this gateway listens to which account, and the replay → live seam. Every logged event
 * reaches a target (a client connection, {@link DeliveryTarget}) through {@link deliver} or a
 * replay, and a target never gets an eventId twice or out of order: each subscription remembers
 * the last id it was given and drops anything not newer, and live events that arrive during a
 * replay are held back until the replay is done.
 */
@Injectable()
export class SubscriptionService {
  private readonly logger = new Logger(SubscriptionService.name);
  private readonly byAccount = new Map<string, Map<string, Subscription>>();
  /** By target id, then account. */
  private readonly byTarget = new Map<string, Map<string, Subscription>>();
  private readonly eventToSocket;
  private readonly pushLatency;

  // Each dependency typed by the part of it this service uses: unit specs give plain fakes.
  constructor(
    @Inject(AccountRepository) private readonly accounts: Pick<AccountRepository, 'isOwnedBy' | 'view'>,
    @Inject(EventLogService) private readonly eventLog: Pick<EventLogService, 'readAfter' | 'isTrimmedPast' | 'lastEventId'>,
    private readonly transport: DeliveryTransport,
    @Inject(MailboxValidities) private readonly validities: Pick<MailboxValidities, 'all' | 'get'>,
    @Inject(EventChannelService) private readonly channels: Pick<EventChannelService, 'watch' | 'unwatch'>,
    metrics: MetricsService,
  ) {
    this.eventToSocket = metrics.histogram('pushmail_event_to_socket_ms', 'Event appended to the log → emitted to a socket');
    this.pushLatency = metrics.histogram('pushmail_push_latency_ms', 'Change seen on IMAP by the watcher → emitted to a socket');
  }

  /**
   * A batch `subscribe`: each account on its own, so one foreign or failing account answers in its
   * own entry (`forbidden`, …) and the others are subscribed. Results keep the request's order.
   */
  async subscribeMany(target: DeliveryTarget, userId: string, reqs: SubscribeOneRequest[]): Promise<{ results: SubscribeBatchResult[] }> {
    const results: SubscribeBatchResult[] = new Array(reqs.length);
    const seen = new Set<string>();
    const todo: number[] = [];
    reqs.forEach((req, i) => {
      if (seen.has(req.accountId)) {
        results[i] = { accountId: req.accountId, ok: false, error: { code: 'bad_request', message: 'accountId appears more than once in this batch' } };
      } else {
        seen.add(req.accountId);
        todo.push(i);
      }
    });
    const next = async (): Promise<void> => {
      for (let i = todo.shift(); i !== undefined; i = todo.shift()) {
        const { accountId } = reqs[i];
        try {
          results[i] = { accountId, ok: true, ...(await this.subscribe(target, userId, reqs[i])) };
        } catch (err) {
          if (!(err instanceof CommandError)) this.logger.error({ msg: 'subscribe in a batch failed', accountId, err });
          results[i] = { accountId, ok: false, error: err instanceof CommandError ? { code: err.code, message: err.message } : { code: 'internal', message: 'internal error' } };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, todo.length) }, next));
    return { results };
  }

  async subscribe(target: DeliveryTarget, userId: string, req: SubscribeOneRequest): Promise<{ replayed: number }> {
    if (!(await this.accounts.isOwnedBy(req.accountId, userId))) throw forbidden();
    if (!target.connected) return { replayed: 0 };
    const sub: Subscription = { target, accountId: req.accountId, last: req.since ?? '0-0', buffer: [] };
    this.add(sub);
    await target.join(req.accountId);
    try {
      // On a cluster, this gateway hears the account's events only once it listens to its channel.
      await this.channels.watch(req.accountId);
      if (req.since) return { replayed: await this.catchUp(sub, req.since, true) };
      // Live only: start after the newest logged event. Going through catchUp anyway closes the
      // race with an event appended while this subscription was being set up.
      return { replayed: await this.catchUp(sub, (await this.eventLog.lastEventId(req.accountId)) ?? '0-0', false) };
    } catch (err) {
      this.remove(sub);
      throw err;
    }
  }

  async unsubscribe(target: DeliveryTarget, accountId: string): Promise<void> {
    const sub = this.byTarget.get(target.id)?.get(accountId);
    if (sub) this.remove(sub);
    await target.leave(accountId);
  }

  /** The client has gone. */
  dropTarget(target: DeliveryTarget): void {
    for (const sub of [...(this.byTarget.get(target.id)?.values() ?? [])]) this.remove(sub);
  }

  /** The account is gone: its subscribers stop getting anything for it. */
  dropAccount(accountId: string): void {
    for (const sub of [...(this.byAccount.get(accountId)?.values() ?? [])]) {
      this.remove(sub);
      void sub.target.leave(accountId);
    }
  }

  hasSubscribers(accountId: string): boolean {
    return (this.byAccount.get(accountId)?.size ?? 0) > 0;
  }

  /** A live event from the events channel. */
  deliver(accountId: string, event: LoggedEvent, seenAt?: number): void {
    const subs = this.byAccount.get(accountId);
    if (!subs) return;
    const eventId = event.payload.eventId;
    const ready: string[] = [];
    for (const sub of subs.values()) {
      if (sub.buffer) sub.buffer.push({ event, seenAt });
      else if (compareEventIds(eventId, sub.last) > 0) {
        ready.push(sub.target.id);
        sub.last = eventId;
      }
    }
    if (!ready.length) return;
    this.transport.sendToMany(ready, event);
    this.observeLatency(eventId, seenAt, ready.length);
  }

  /**
   * After the events channel was down (Redis restart), live events may have been missed: every
   * subscription catches up from the log, with the same seam handling as a `since` replay.
   */
  async resyncAll(): Promise<void> {
    const subs = [...this.byTarget.values()].flatMap((m) => [...m.values()]).filter((s) => !s.buffer || s.held);
    for (const sub of subs) {
      sub.held = false;
      sub.buffer ??= [];
      await this.catchUp(sub, sub.last, true).catch((err) => {
        this.logger.warn({ msg: 'resync after events channel reconnect failed', accountId: sub.accountId, err });
        this.flush(sub);
      });
    }
  }

  /**
   * The events channel dropped: from now on live events are held, not delivered, until
   * {@link resyncAll} has caught up from the log. ioredis resubscribes by itself, so live events
   * flow again before the resync starts; delivered at once, they moved each subscription's last
   * eventId past the events published during the outage, and the catch-up then skipped those
   * (the chaos test lost messages appended around a Redis restart this way).
   */
  holdAll(): void {
    for (const sub of [...this.byTarget.values()].flatMap((m) => [...m.values()])) {
      if (sub.buffer) continue; // still in its own subscribe catch-up
      sub.buffer = [];
      sub.held = true;
    }
  }

  /** Replays the log after `since` to one subscription, then flushes what arrived live meanwhile. */
  private async catchUp(sub: Subscription, since: string, checkTrim: boolean): Promise<number> {
    sub.last = since;
    let replayed = 0;
    if (checkTrim && (await this.eventLog.isTrimmedPast(sub.accountId, since))) {
      if (!this.isCurrent(sub)) return 0;
      replayed += await this.emitReset(sub);
    }
    let cursor = sub.last;
    for (;;) {
      const page = await this.eventLog.readAfter(sub.accountId, cursor, REPLAY_PAGE);
      if (!this.isCurrent(sub)) return replayed;
      for (const event of page) {
        if (compareEventIds(event.payload.eventId, sub.last) <= 0) continue;
        sub.target.send(event);
        sub.last = event.payload.eventId;
        replayed++;
      }
      if (page.length < REPLAY_PAGE) break;
      cursor = page[page.length - 1].payload.eventId;
    }
    // No await from here on: nothing can slip in between the last replayed event and going live.
    this.flush(sub);
    return replayed;
  }

  private flush(sub: Subscription): void {
    const buffered = sub.buffer ?? [];
    sub.buffer = null;
    for (const { event, seenAt } of buffered) this.emitLive(sub, event, seenAt);
  }

  /**
   * The log no longer reaches back to `since`: tell the client to reload each watched mailbox,
   * then replay everything the log still holds.
   */
  private async emitReset(sub: Subscription): Promise<number> {
    const [first] = await this.eventLog.readAfter(sub.accountId, '0-0', 1);
    const view = await this.accounts.view(sub.accountId);
    if (!first || !view) return 0;
    const eventId = eventIdBefore(first.payload.eventId);
    // Every mailbox the watcher syncs ("*" expands to folders only it has listed), plus named ones
    // not synced yet (UIDVALIDITY 0: unknown, as before the watcher's first resync).
    const validities = await this.validities.all(sub.accountId);
    const unindexed = view.mailboxes.filter((m) => m !== WATCH_ALL_FOLDERS && !validities.has(m));
    const found = await Promise.all(unindexed.map((m) => this.validities.get(sub.accountId, m)));
    unindexed.forEach((mailbox, i) => validities.set(mailbox, found[i] ?? 0));
    if (!this.isCurrent(sub)) return 0;
    for (const [mailbox, uidValidity] of validities) {
      sub.target.send({ name: ServerEvent.MailboxReset, payload: { eventId, accountId: sub.accountId, mailbox, uidValidity } });
    }
    sub.last = eventId;
    return validities.size;
  }

  private emitLive(sub: Subscription, event: LoggedEvent, seenAt?: number): void {
    const eventId = event.payload.eventId;
    if (compareEventIds(eventId, sub.last) <= 0) return;
    sub.target.send(event);
    sub.last = eventId;
    this.observeLatency(eventId, seenAt, 1);
  }

  /** One observation per target reached, so percentiles are per client as a client sees them. */
  private observeLatency(eventId: string, seenAt: number | undefined, targets: number): void {
    const now = Date.now();
    const sinceAppend = Math.max(0, now - Number(eventId.slice(0, eventId.indexOf('-'))));
    const sinceSeen = seenAt ? Math.max(0, now - seenAt) : undefined;
    for (let i = 0; i < targets; i++) {
      this.eventToSocket.observe(sinceAppend);
      if (sinceSeen !== undefined) this.pushLatency.observe(sinceSeen);
    }
  }

  private isCurrent(sub: Subscription): boolean {
    return sub.target.connected && this.byTarget.get(sub.target.id)?.get(sub.accountId) === sub;
  }

  private add(sub: Subscription): void {
    const forTarget = this.byTarget.get(sub.target.id) ?? new Map<string, Subscription>();
    forTarget.set(sub.accountId, sub);
    this.byTarget.set(sub.target.id, forTarget);
    const forAccount = this.byAccount.get(sub.accountId) ?? new Map<string, Subscription>();
    forAccount.set(sub.target.id, sub);
    this.byAccount.set(sub.accountId, forAccount);
  }

  private remove(sub: Subscription): void {
    const forTarget = this.byTarget.get(sub.target.id);
    if (forTarget?.get(sub.accountId) === sub) {
      forTarget.delete(sub.accountId);
      if (!forTarget.size) this.byTarget.delete(sub.target.id);
    }
    const forAccount = this.byAccount.get(sub.accountId);
    if (forAccount?.get(sub.target.id) === sub) {
      forAccount.delete(sub.target.id);
      if (!forAccount.size) {
        this.byAccount.delete(sub.accountId);
        this.channels.unwatch(sub.accountId);
      }
    }
  }
}
