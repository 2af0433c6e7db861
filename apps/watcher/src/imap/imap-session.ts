import { Logger } from '@nestjs/common';
import { AccountState, ConnectionFailureCode, ServerSettings } from '@pushmail/contracts';
import { ImapClientFactory } from '@pushmail/imap';
import { classifyConnectionError } from '@pushmail/net-policy';
import type { ImapFlow, MailboxObject } from 'imapflow';
import { LeaseLostError } from '../sync/cursor.store';
import { MailboxChange, MailboxRef, MailboxSyncService } from '../sync/mailbox-sync.service';
import { MailboxCursor, advanceUidNext, fromSequenceSet, futureGuesses, guessNewUids, maxModseq, newUidsFrom, planResync, toSequenceSet, vanishedUids } from '../sync/uid-math';
import { WatcherMetrics } from '../watcher.metrics';
import { fullJitterBackoff, jitteredDelay } from './backoff';
import { SessionTimings } from './host-overrides';
import { LoginLimiter } from './login-limiter';

/** Shared by every session of the process: one object, not one per session. */
export interface SessionContext {
  factory: ImapClientFactory;
  limiter: LoginLimiter;
  sync: MailboxSyncService;
  metrics: WatcherMetrics;
  timingsFor: (host: string) => SessionTimings;
  watcherId: string;
  logger: Logger;
}

export interface SessionOwner {
  onSessionState(session: ImapSession): void;
  onLeaseLost(accountId: string): void;
}

export type SessionState = AccountState | 'stopped';

/** Bits of work a session owes; set by events, done one batch at a time. */
const NEW_MAIL = 1;
const CHANGES = 2;
const POLL = 4;

/** Server answers that mean "not now" rather than "wrong credentials". */
/**
 * How often a connected session of an OAuth account asks for its credential: a cache read while
 * the token is fresh, the account's refresh when it is due (so the token stays warm for the
 * fetchers' and gateway's logins), and how a revoked grant is noticed within a token's lifetime
 * although the session itself, already logged in, would stay up.
 */
const OAUTH_CHECK_INTERVAL_MS = 3_000;

const TRANSIENT_LOGIN_CODES = new Set(['LIMIT', 'UNAVAILABLE', 'INUSE', 'SERVERBUG', 'CONTACTADMIN']);

interface ExistsEvent {
  count: number;
  prevCount: number;
}
interface ExpungeEvent {
  seq?: number;
  uid?: number;
  vanished?: boolean;
}
interface FlagsEvent {
  seq?: number;
  uid?: number;
  modseq?: bigint;
  flags?: Set<string>;
}

function isAuthFailure(err: unknown): boolean {
  const e = err as { authenticationFailed?: boolean; serverResponseCode?: string };
  return !!e?.authenticationFailed && !TRANSIENT_LOGIN_CODES.has(String(e.serverResponseCode ?? '').toUpperCase());
}

function errorText(err: unknown): string {
  const e = err as { responseText?: string; code?: string; message?: string };
  return String(e?.responseText || e?.message || e?.code || err).slice(0, 300);
}

/**
 * One IMAP connection watching one mailbox: SELECT (read-only), resync from the cursor, then IDLE
 * (or poll where the server has no IDLE). A dropped connection is replaced by a new client; the
 * coordinator's shared tick drives reconnects, polls and half-open checks, so a session owns no
 * timers of its own.
 */
export class ImapSession {
  state: SessionState = 'disconnected';
  /** What the account shows: a category, never the server's text or an errno. */
  lastError?: ConnectionFailureCode;
  /** The raw error behind it, for the logs only. */
  private lastErrorDetail?: string;
  nextAttemptAt = 0;

  private client?: ImapFlow;
  private attempt = 0;
  private uidValidity = 0;
  private cursor?: MailboxCursor;
  private idleSupported = false;
  private qresync = false;
  private condstore = false;
  /** Sequence number → UID, only for servers without QRESYNC, whose EXPUNGE carries no UID. */
  private seqUids?: number[];
  private dirty = 0;
  private draining = false;
  private idlePending = false;
  private seenAt = 0;
  /**
   * UIDs announced from EXISTS counts and not yet confirmed by a UID SEARCH (see
   * {@link guessNewUids}), each with whether its job is known to be in Redis.
   */
  private guessed?: Map<number, boolean>;
  private guessedUpTo = 0;
  /** Every UID below this is known to be assigned on the server (from this session's searches). */
  private existingBelow = 0;
  private changes: MailboxChange[] = [];
  private lastReceived = -1;
  private lastTrafficAt = 0;
  private lastPollAt = 0;
  private probing = false;
  private oauthCheckAt = 0;
  private oauthChecking = false;
  /** One retry with a fresh token after the server refused one, per successful connection. */
  private oauthRetried = false;
  private readonly timings: SessionTimings;

  constructor(
    readonly accountId: string,
    readonly mailbox: string,
    private readonly settings: ServerSettings,
    private readonly leaseValue: string,
    private readonly ctx: SessionContext,
    private readonly owner: SessionOwner,
  ) {
    this.timings = ctx.timingsFor(settings.host);
  }

  private get ref(): MailboxRef {
    return { accountId: this.accountId, mailbox: this.mailbox, leaseValue: this.leaseValue };
  }

  /** Called by the shared tick loop. */
  tick(now: number): void {
    const { timings } = this;
    if (this.state === 'stopped' || this.state === 'connecting') return;
    if (this.state !== 'connected') {
      if (!this.client && now >= this.nextAttemptAt) void this.connect();
      return;
    }
    const client = this.client;
    if (!client) return;
    if (!client.usable) {
      this.client = undefined;
      client.close();
      this.logClosed('failed');
      this.scheduleRetry('error', this.lastError ?? 'connection_failed', this.lastErrorDetail ?? 'connection closed');
      return;
    }
    if (this.settings.oauth2 && !this.oauthChecking && now >= this.oauthCheckAt) this.checkOAuth(client, now);
    const received = client.stats().received;
    if (received !== this.lastReceived) {
      this.lastReceived = received;
      this.lastTrafficAt = now;
    } else if (!this.probing && now - this.lastTrafficAt >= timings.HALF_OPEN_TIMEOUT_MS) {
      void this.probe(client);
    }
    if (!this.idleSupported) {
      if (now - this.lastPollAt >= timings.POLL_INTERVAL_MS) {
        this.lastPollAt = now;
        this.request(POLL);
      }
    } else if (!this.draining && !this.idlePending && !this.probing) {
      // IDLE ended without us (server-side end, imapflow's own timeout NOOP): start it again.
      this.startIdle(client);
    }
  }

  async connect(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'connecting' || this.client) return;
    const { factory, limiter, logger } = this.ctx;
    const { timings } = this;
    // 'connecting' before the first await: the tick must not start a second attempt meanwhile.
    this.setState('connecting');
    let client: ImapFlow;
    try {
      // Resolves and checks the host on every connect (DNS rebinding), see ImapClientFactory.
      client = await factory.create(
        this.settings,
        {
          disableAutoIdle: true,
          qresync: true,
          maxIdleTime: timings.IDLE_RESTART_MS,
          // imapflow's own inactivity watchdog is the backstop behind our half-open probe.
          socketTimeout: timings.HALF_OPEN_TIMEOUT_MS + timings.NOOP_TIMEOUT_MS + 60_000,
        },
        this.accountId,
      );
    } catch (err) {
      // No session was opened (the host was refused or did not resolve): nothing to log as closed.
      if (this.isStopped()) return;
      this.failed(err);
      return;
    }
    if (this.isStopped()) {
      client.close();
      return;
    }
    this.client = client;
    client.on('error', (err: Error) => {
      this.lastError = classifyConnectionError(err);
      this.lastErrorDetail = errorText(err);
    });
    client.on('close', () => this.onClose(client));
    client.on('exists', (event: ExistsEvent) => {
      if (!this.seenAt) this.seenAt = Date.now();
      this.announceGuesses(event);
      this.request(NEW_MAIL);
    });
    client.on('expunge', (event: ExpungeEvent) => this.onExpunge(event));
    client.on('flags', (event: FlagsEvent) => this.onFlags(event));
    this.guessed = undefined;
    this.guessedUpTo = 0;
    logger.log({ msg: 'imap session open', accountId: this.accountId, mailbox: this.mailbox, watcher: this.ctx.watcherId, at: Date.now() });
    try {
      await limiter.run(this.settings.host, () => client.connect());
      if (this.client !== client) return;
      this.idleSupported = client.capabilities.has('IDLE') && !this.timings.DISABLE_IDLE;
      this.qresync = client.enabled.has('QRESYNC');
      const mailbox = await client.mailboxOpen(this.mailbox, { readOnly: true });
      this.condstore = client.enabled.has('CONDSTORE') && !mailbox.noModseq && mailbox.highestModseq !== undefined;
      await this.resync(client, mailbox);
      if (this.client !== client) return;
      // A close while resync was waiting on Redis is ignored by onClose (still connecting).
      if (!client.usable) throw Object.assign(new Error('connection closed during resync'), { code: 'NoConnection' });
      this.attempt = 0;
      const now = Date.now();
      this.lastTrafficAt = now;
      this.lastPollAt = now;
      this.lastReceived = client.stats().received;
      this.lastError = undefined;
      this.lastErrorDetail = undefined;
      this.oauthRetried = false;
      this.setState('connected');
      this.afterWork(client);
    } catch (err) {
      this.fail(client, err);
    }
  }

  /** A method, not a field test: stop() may run while connect() awaits, which TypeScript's narrowing cannot see. */
  private isStopped(): boolean {
    return this.state === 'stopped';
  }

  /** Closes the session for good (account released, changed or deleted, or shutdown). */
  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.state = 'stopped';
    if (!client) return;
    // LOGOUT is polite but must not hold up a hand-off: the socket is destroyed after 1 s anyway.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([client.logout().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
    client.close();
    this.logClosed('stopped');
  }

  private request(bits: number): void {
    this.dirty |= bits;
    if (this.state === 'connected' && !this.draining) void this.drain();
  }

  private onExpunge(event: ExpungeEvent): void {
    let uid = event.uid;
    if (!uid && event.seq && this.seqUids) {
      uid = this.seqUids[event.seq - 1];
      this.seqUids.splice(event.seq - 1, 1);
    } else if (uid && this.seqUids) {
      const i = this.seqUids.indexOf(uid);
      if (i >= 0) this.seqUids.splice(i, 1);
    }
    if (!uid) return;
    this.changes.push({ kind: 'deleted', uid });
    this.request(CHANGES);
  }

  private onFlags(event: FlagsEvent): void {
    const uid = event.uid ?? (event.seq && this.seqUids ? this.seqUids[event.seq - 1] : undefined);
    if (!uid) return;
    const change: MailboxChange = { kind: 'flags', uid, flags: [...(event.flags ?? [])] };
    if (event.modseq !== undefined) change.modseq = event.modseq.toString();
    this.changes.push(change);
    this.request(CHANGES);
  }

  /** Does what events asked for, one batch at a time: EXISTS during a sync coalesces into one follow-up. */
  private async drain(): Promise<void> {
    const client = this.client;
    if (!client || this.draining) return;
    this.draining = true;
    try {
      while (this.dirty && this.client === client && this.state === 'connected') {
        const bits = this.dirty;
        this.dirty = 0;
        if (bits & POLL) await client.noop();
        if (bits & NEW_MAIL || this.dirty & NEW_MAIL) {
          this.dirty &= ~NEW_MAIL;
          await this.syncNewMail(client);
        }
        if (this.changes.length) await this.flushChanges();
      }
    } catch (err) {
      this.fail(client, err);
    } finally {
      this.draining = false;
    }
    this.afterWork(client);
  }

  private afterWork(client: ImapFlow): void {
    if (this.client !== client || this.state !== 'connected') return;
    if (this.dirty || this.changes.length) {
      this.dirty |= this.changes.length ? CHANGES : 0;
      void this.drain();
      return;
    }
    if (this.idleSupported) this.startIdle(client);
  }

  private startIdle(client: ImapFlow): void {
    if (this.idlePending || client.idling) return;
    this.idlePending = true;
    client
      .idle()
      .catch(() => undefined)
      .finally(() => {
        this.idlePending = false;
      });
  }

  /**
   * Enqueues fetch jobs for the UIDs an EXISTS count implies, before leaving IDLE for the UID
   * SEARCH: the search's two round trips are what EXISTS → job would otherwise wait for. The
   * search still runs, confirms, and alone advances the cursor.
   */
  private announceGuesses(event: ExistsEvent): void {
    if (this.state !== 'connected' || !this.cursor || !(event.count > event.prevCount)) return;
    const uids = guessNewUids(Math.max(this.cursor.uidNext, this.guessedUpTo), event.count - event.prevCount);
    if (!uids.length) return;
    this.guessedUpTo = uids[uids.length - 1] + 1;
    this.guessed ??= new Map();
    for (const uid of uids) this.guessed.set(uid, false);
    const seenAt = this.seenAt || Date.now();
    const guessed = this.guessed;
    this.ctx.sync.enqueue(this.ref, this.uidValidity, { newUids: uids, seenAt }).then(
      () => {
        this.ctx.metrics.existsToEnqueue.observe(Date.now() - seenAt);
        for (const uid of uids) guessed.set(uid, true);
      },
      // The UID SEARCH that follows enqueues the same jobs; only the head start is lost.
      (err) => this.ctx.logger.debug({ msg: 'early enqueue failed; the UID SEARCH will enqueue', accountId: this.accountId, err: errorText(err) }),
    );
  }

  /** UID SEARCH above the cursor → fetch jobs → cursor. */
  private async syncNewMail(client: ImapFlow): Promise<void> {
    const seenAt = this.seenAt || Date.now();
    this.seenAt = 0;
    const cursor = this.cursor!;
    // Only guesses made before the search can be judged by it; later ones wait for the next search.
    const guessed = this.guessed;
    this.guessed = undefined;
    const found = await client.search({ uid: `${cursor.uidNext}:*` }, { uid: true });
    const uids = newUidsFrom(found || [], cursor.uidNext);
    this.noteAssigned(cursor.uidNext, uids);
    if (guessed) {
      const future = futureGuesses(guessed.keys(), uids, cursor.uidNext);
      const confirmed = uids.filter((uid) => guessed.has(uid)).length;
      const { uidGuesses } = this.ctx.metrics;
      uidGuesses.inc({ outcome: 'confirmed' }, confirmed);
      uidGuesses.inc({ outcome: 'gone' }, guessed.size - confirmed - future.length);
      uidGuesses.inc({ outcome: 'withdrawn' }, future.length);
      if (future.length) void this.ctx.sync.withdraw(this.ref, this.uidValidity, future, (uid) => this.state !== 'stopped' && uid >= this.existingBelow);
    }
    if (!uids.length) return;
    if (this.seqUids) this.seqUids.push(...uids.filter((u) => u > (this.seqUids![this.seqUids!.length - 1] ?? 0)));
    // The cursor must never pass a UID whose job is not known to be in Redis: guesses whose early
    // enqueue has not (yet) succeeded are enqueued again, a no-op by job id if it lands after all.
    const unqueued = uids.filter((uid) => guessed?.get(uid) !== true);
    if (unqueued.length) await this.ctx.sync.enqueue(this.ref, this.uidValidity, { newUids: unqueued, seenAt });
    if (uids.some((uid) => !guessed?.has(uid))) this.ctx.metrics.existsToEnqueue.observe(Date.now() - seenAt);
    await this.saveCursor({ ...this.cursor!, uidNext: advanceUidNext(this.cursor!.uidNext, uids) });
  }

  private async flushChanges(): Promise<void> {
    const batch = this.changes;
    this.changes = [];
    // Changes to messages not yet announced are left to their fetch job, which reads current flags.
    const below = this.cursor!.uidNext;
    const relevant = batch.filter((c) => c.uid < below);
    let modseq = this.cursor!.highestModseq;
    for (const c of relevant) if (c.kind === 'flags' && this.condstore) modseq = maxModseq(modseq, c.modseq);
    if (relevant.length) await this.ctx.sync.enqueue(this.ref, this.uidValidity, { changes: relevant });
    const expunged = relevant.some((c) => c.kind === 'deleted');
    if (modseq !== this.cursor!.highestModseq || (expunged && this.seqUids)) await this.saveCursor({ ...this.cursor!, ...(modseq ? { highestModseq: modseq } : {}) });
  }

  /**
   * Records, before anything awaits, that every UID below `from` and up to the highest of `found`
   * is assigned on the server: a pending withdrawal of a guessed job must no longer remove those.
   */
  private noteAssigned(from: number, found: readonly number[]): void {
    let below = Math.max(this.existingBelow, from);
    for (const uid of found) if (uid + 1 > below) below = uid + 1;
    this.existingBelow = below;
  }

  private async saveCursor(cursor: MailboxCursor): Promise<void> {
    if (this.seqUids) cursor.knownUids = toSequenceSet(this.seqUids);
    else delete cursor.knownUids;
    await this.ctx.sync.saveCursor(this.ref, cursor);
    this.cursor = cursor;
  }

  /** Catches up after every (re)connect; see {@link planResync}. */
  private async resync(client: ImapFlow, mailbox: MailboxObject): Promise<void> {
    const uidValidity = Number(mailbox.uidValidity);
    const selected = { uidValidity, uidNext: mailbox.uidNext, highestModseq: mailbox.highestModseq?.toString() };
    const stored = await this.ctx.sync.getCursor(this.ref);
    const plan = planResync(stored, selected, this.condstore);
    const previousUids = this.uidValidity === uidValidity && this.seqUids ? this.seqUids : fromSequenceSet(stored?.knownUids);
    if (this.uidValidity !== uidValidity) this.existingBelow = 0; // another UID space
    this.uidValidity = uidValidity;
    const present = this.qresync ? undefined : ((await client.search({ all: true }, { uid: true })) || []).sort((a, b) => a - b);
    this.seqUids = present;
    const modseq = this.condstore ? selected.highestModseq : undefined;

    if (plan.kind !== 'incremental') {
      // Events from before the baseline describe mail we never announced.
      this.changes = [];
      if (plan.kind === 'reset') {
        await this.ctx.sync.enqueue(this.ref, uidValidity, { reset: { previousUidValidity: plan.previousUidValidity } });
      }
      this.ctx.logger.log({ msg: `mailbox ${plan.kind}`, accountId: this.accountId, mailbox: this.mailbox, uidValidity, uidNext: mailbox.uidNext });
      await this.saveCursor({ uidValidity, uidNext: mailbox.uidNext, ...(modseq ? { highestModseq: modseq } : {}) });
      return;
    }

    const seenAt = Date.now();
    this.seenAt = 0;
    const from = plan.fromUid;
    const newUids = newUidsFrom((await client.search({ uid: `${from}:*` }, { uid: true })) || [], from);
    this.noteAssigned(from, newUids);
    if (this.seqUids) this.seqUids = [...new Set([...this.seqUids, ...newUids])].sort((a, b) => a - b);
    if (plan.changedSince && from > 1) {
      // With QRESYNC enabled imapflow adds VANISHED, so expunges since then arrive as events.
      const rows = await client.fetchAll(`1:${from - 1}`, { uid: true, flags: true }, { uid: true, changedSince: BigInt(plan.changedSince) });
      for (const row of rows) {
        if (row.uid < from) this.changes.push({ kind: 'flags', uid: row.uid, flags: [...(row.flags ?? [])], ...(row.modseq ? { modseq: row.modseq.toString() } : {}) });
      }
    }
    if (present) for (const uid of vanishedUids(previousUids, present, from)) this.changes.push({ kind: 'deleted', uid });
    const changes = this.changes.filter((c) => c.uid < from);
    this.changes = [];
    // Not observed in the EXISTS→enqueue histogram: a catch-up is not a push.
    await this.ctx.sync.enqueue(this.ref, uidValidity, { newUids, seenAt, changes });
    await this.saveCursor({
      uidValidity,
      uidNext: advanceUidNext(from, newUids, mailbox.uidNext),
      ...(this.condstore ? { highestModseq: maxModseq(stored!.highestModseq, modseq) } : {}),
    });
  }

  /** NOOP with a deadline after a long silence: a half-open connection never answers. */
  private async probe(client: ImapFlow): Promise<void> {
    this.probing = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.noop(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(Object.assign(new Error('NOOP timed out: connection is half-open'), { code: 'ETIMEOUT' })), this.timings.NOOP_TIMEOUT_MS))),
      ]);
      this.lastTrafficAt = Date.now();
    } catch (err) {
      this.ctx.logger.warn({ msg: 'imap connection unresponsive; reconnecting', accountId: this.accountId, mailbox: this.mailbox, err: errorText(err) });
      this.fail(client, err);
    } finally {
      clearTimeout(timer);
      this.probing = false;
    }
    this.afterWork(client);
  }

  private checkOAuth(client: ImapFlow, now: number): void {
    this.oauthCheckAt = now + OAUTH_CHECK_INTERVAL_MS;
    this.oauthChecking = true;
    this.ctx.factory.checkCredential(this.settings, this.accountId).then(
      () => (this.oauthChecking = false),
      (err: unknown) => {
        this.oauthChecking = false;
        // Revoked or lapsed: end the session so the account shows it; transient failures wait for the next check.
        if (isAuthFailure(err)) this.fail(client, err);
      },
    );
  }

  private onClose(client: ImapFlow): void {
    // While connecting, the pending connect()/command rejects and fail() classifies the error.
    if (this.client !== client || this.state !== 'connected') return;
    this.client = undefined;
    this.logClosed('dropped');
    this.scheduleRetry('disconnected', this.lastError ?? 'connection_failed', this.lastErrorDetail ?? 'connection closed');
  }

  private fail(client: ImapFlow, err: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.close();
    this.logClosed('failed');
    if (this.settings.oauth2 && !this.oauthRetried && isAuthFailure(err) && (err as { oauthFailure?: unknown }).oauthFailure === undefined) {
      // The server refused a token we held for valid (expired or revoked early): drop it and try
      // once more with a fresh one before calling the credentials wrong.
      this.oauthRetried = true;
      const retry = () => this.scheduleRetry('error', 'auth_failed', errorText(err));
      this.ctx.factory.loginRefused(client, this.settings, this.accountId).then(retry, retry);
      return;
    }
    this.failed(err);
  }

  /** After a failed attempt (with or without a client): lease lost, login refused, or retry later. */
  private failed(err: unknown): void {
    if (err instanceof LeaseLostError) {
      this.state = 'stopped';
      this.owner.onLeaseLost(this.accountId);
      return;
    }
    if (isAuthFailure(err)) {
      this.ctx.metrics.authFailures.inc();
      // A revoked OAuth grant or a lapsed pushed token shows as such (the user must sign in again).
      const code = classifyConnectionError(err);
      this.lastError = code === 'oauth_revoked' || code === 'oauth_token_expired' ? code : 'auth_failed';
      this.nextAttemptAt = Date.now() + jitteredDelay(this.timings.AUTH_FAILURE_BACKOFF_MS);
      this.ctx.logger.warn({ msg: 'imap login refused; backing off', accountId: this.accountId, detail: errorText(err), retryInMs: this.nextAttemptAt - Date.now() });
      this.setState('auth_failed');
      return;
    }
    this.scheduleRetry('error', classifyConnectionError(err), errorText(err));
  }

  /**
   * `reason` is what the account shows (a category: the raw text would turn the watcher into a
   * port scanner for users, ECONNREFUSED vs a greeting timeout); `detail` goes to the log only.
   */
  private scheduleRetry(state: 'disconnected' | 'error', reason: ConnectionFailureCode, detail: string): void {
    const { metrics, logger } = this.ctx;
    const { timings } = this;
    const delay = fullJitterBackoff(this.attempt++, timings.BACKOFF_MIN_MS, timings.BACKOFF_MAX_MS);
    this.nextAttemptAt = Date.now() + delay;
    this.lastError = reason;
    this.lastErrorDetail = undefined;
    metrics.reconnects.inc();
    logger.warn({ msg: 'imap session lost; reconnecting', accountId: this.accountId, mailbox: this.mailbox, reason, detail, retryInMs: delay });
    this.setState(state);
  }

  private logClosed(why: string): void {
    this.ctx.logger.log({ msg: 'imap session closed', accountId: this.accountId, mailbox: this.mailbox, watcher: this.ctx.watcherId, why, at: Date.now() });
  }

  private setState(state: SessionState): void {
    if (this.state === 'stopped') return;
    this.state = state;
    this.owner.onSessionState(this);
  }
}
