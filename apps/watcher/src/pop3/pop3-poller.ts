import { AccountState, ConnectionFailureCode, Pop3Settings } from '@pushmail/contracts';
import { createHash } from 'node:crypto';
import { classifyConnectionError } from '@pushmail/net-policy';
import { Pop3Client, Pop3ClientFactory, Pop3LeaseLostError, Pop3UidStore } from '@pushmail/pop3';
import { fullJitterBackoff, jitteredDelay } from '../imap/backoff';
import { SessionContext, SessionState } from '../imap/imap-session';
import { MailboxRef } from '../sync/mailbox-sync.service';

/** What a poll does with a POP3 connection. */
export type PolledPop3Client = Pick<Pop3Client, 'uidl' | 'dele' | 'quit' | 'close'>;

/** What the POP3 pollers of a process share, beside the IMAP sessions' context (typed by the parts they use, so a spec can fake them). */
export interface Pop3Context {
  factory: { connect: (...args: Parameters<Pop3ClientFactory['connect']>) => Promise<PolledPop3Client> };
  uids: Pick<Pop3UidStore, 'lastPollAt' | 'plan' | 'commit' | 'fetchedBefore'>;
}

export interface Pop3PollerOwner {
  onSessionState(session: Pop3Poller): void;
  onLeaseLost(accountId: string): void;
}

/** POP3 mail is INBOX mail to everything past the watcher. */
export const POP3_MAILBOX = 'INBOX';

function errorText(err: unknown): string {
  const e = err as { response?: string; code?: string; message?: string };
  return String(e?.message || e?.code || err).slice(0, 300);
}

/**
 * One POP3 account, polled: every `intervalMs`, at a fixed phase within the interval that a hash
 * of the account id picks (see nextPollSlot), it logs in, lists UIDL,
 * maps new UIDLs to uids (Pop3UidStore), enqueues a fetch job per new uid and a deleted job per
 * UIDL the server no longer lists, then QUITs. Like ImapSession it owns no timers: the watcher's
 * shared tick starts each poll. Failures back off as IMAP's do; refused credentials are
 * `auth_failed` (`oauth_revoked` / `oauth_token_expired` for an OAuth grant that is gone) and wait
 * AUTH_FAILURE_BACKOFF_MS. Each poll is a new login, so an OAuth account simply asks the
 * credential provider for a token each time (the factory retries once with a fresh token when
 * the server refuses one we held for valid).
 */
export class Pop3Poller {
  readonly mailbox = POP3_MAILBOX;
  state: SessionState = 'disconnected';
  lastError?: ConnectionFailureCode;
  /** When the next poll (or retry) is due; 0 = at the first tick. */
  nextAttemptAt = 0;
  private polling = false;
  private attempt = 0;
  private current?: PolledPop3Client;

  constructor(
    readonly accountId: string,
    private readonly settings: Pop3Settings,
    private readonly intervalMs: number,
    private readonly leaseValue: string,
    private readonly ctx: SessionContext,
    private readonly pop3: Pop3Context,
    private readonly owner: Pop3PollerOwner,
  ) {}

  private get ref(): MailboxRef {
    return { accountId: this.accountId, mailbox: POP3_MAILBOX, leaseValue: this.leaseValue };
  }

  /** Picks up where the previous owner left off: the next poll is due an interval after its last one. */
  async connect(): Promise<void> {
    if (this.state === 'stopped') return;
    this.setState('connecting');
    const last = await this.pop3.uids.lastPollAt(this.accountId).catch(() => null);
    // Never polled: at once (the first poll is the baseline). Else the account's next slot after its last poll.
    this.nextAttemptAt = last ? Math.min(nextPollSlot(this.accountId, this.intervalMs, last), Date.now() + this.intervalMs) : 0;
    this.tick(Date.now());
  }

  tick(now: number): void {
    if (this.state === 'stopped' || this.polling || now < this.nextAttemptAt) return;
    void this.poll();
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    // A poll in flight is cut: without QUIT the server keeps everything as it was (no DELE lands).
    this.current?.close();
  }

  /** One poll: login, UIDL, jobs, QUIT. Never throws: every failure decides the next attempt. */
  async poll(): Promise<void> {
    if (this.polling || this.state === 'stopped') return;
    this.polling = true;
    const startedAt = Date.now();
    let client: PolledPop3Client | undefined;
    try {
      client = await this.ctx.limiter.run(this.settings.host, () => this.pop3.factory.connect(this.settings, {}, this.accountId));
      this.current = client;
      if (this.isStopped()) return;
      const listing = await client.uidl();
      const plan = await this.pop3.uids.plan(
        this.accountId,
        this.leaseValue,
        listing.map((e) => e.uid),
        startedAt,
      );
      // Enqueue first, commit after: a crash in between repeats the jobs (same ids), never loses them.
      await this.ctx.sync.enqueue(this.ref, plan.uidValidity, {
        ...(plan.resetFrom ? { reset: { previousUidValidity: plan.resetFrom } } : {}),
        newUids: plan.newUids,
        seenAt: startedAt,
        changes: plan.goneUids.map((uid) => ({ kind: 'deleted' as const, uid })),
      });
      await this.pop3.uids.commit(this.accountId, this.leaseValue, plan, startedAt);
      const deleted = await this.deleteExpired(client, listing);
      // QUIT commits the DELEs; their message.deleted jobs come from the next poll, as for any deletion.
      await (deleted ? client.quit() : client.quit().catch(() => undefined));
      if (plan.newUids.length || plan.goneUids.length || plan.resetFrom) {
        this.ctx.logger.log({ msg: 'pop3 poll', accountId: this.accountId, newUids: plan.newUids.length, gone: plan.goneUids.length, reset: !!plan.resetFrom });
      }
      this.attempt = 0;
      this.lastError = undefined;
      this.nextAttemptAt = nextPollSlot(this.accountId, this.intervalMs, startedAt);
      this.setState('connected');
    } catch (err) {
      client?.close();
      this.failed(err);
    } finally {
      this.current = undefined;
      this.polling = false;
    }
  }

  /** `pop3.deleteAfterDays`: DELE what the fetcher read that many days ago. Returns how many were marked. */
  private async deleteExpired(client: PolledPop3Client, listing: Array<{ msg: number; uid: string }>): Promise<number> {
    const days = this.settings.deleteAfterDays;
    if (!days) return 0;
    const due = new Set(await this.pop3.uids.fetchedBefore(this.accountId, Date.now() - days * 86_400_000));
    let marked = 0;
    for (const entry of listing) {
      if (!due.has(entry.uid)) continue;
      await client.dele(entry.msg);
      marked++;
    }
    if (marked) this.ctx.logger.log({ msg: 'pop3 messages deleted after deleteAfterDays', accountId: this.accountId, count: marked, days });
    return marked;
  }

  private failed(err: unknown): void {
    if (this.isStopped()) return;
    if (err instanceof Pop3LeaseLostError) {
      this.state = 'stopped';
      this.owner.onLeaseLost(this.accountId);
      return;
    }
    const category = classifyConnectionError(err);
    if (category === 'auth_failed' || category === 'oauth_revoked' || category === 'oauth_token_expired') {
      this.ctx.metrics.authFailures.inc();
      // A revoked OAuth grant or a lapsed pushed token shows as such (the user must sign in again).
      this.lastError = category;
      this.nextAttemptAt = Date.now() + jitteredDelay(this.ctx.timingsFor(this.settings.host).AUTH_FAILURE_BACKOFF_MS);
      this.ctx.logger.warn({ msg: 'pop3 login refused; backing off', accountId: this.accountId, detail: errorText(err), retryInMs: this.nextAttemptAt - Date.now() });
      this.setState('auth_failed');
      return;
    }
    const timings = this.ctx.timingsFor(this.settings.host);
    // Never later than the next regular poll would have been.
    const delay = Math.min(fullJitterBackoff(this.attempt++, timings.BACKOFF_MIN_MS, timings.BACKOFF_MAX_MS), this.intervalMs);
    this.nextAttemptAt = Date.now() + delay;
    this.lastError = category;
    this.ctx.metrics.reconnects.inc();
    this.ctx.logger.warn({ msg: 'pop3 poll failed; retrying', accountId: this.accountId, reason: category, detail: errorText(err), retryInMs: delay });
    this.setState('error');
  }

  private isStopped(): boolean {
    return this.state === 'stopped';
  }

  private setState(state: AccountState): void {
    if (this.state === 'stopped') return;
    const changed = this.state !== state;
    this.state = state;
    if (changed) this.owner.onSessionState(this);
  }
}

/**
 * The first of the account's poll slots after `after`: slots lie one interval apart at a phase a
 * hash of the account id picks, so the gap between two polls never exceeds the interval and the
 * accounts' polls spread evenly over it, the same in every watcher (a failover keeps them).
 *
 * Why not "last poll + interval less a random 10 %" (the first design): the random steps made
 * polls of different accounts meet at random and pile up (the bench's 1,000 accounts at 60 s:
 * 53 logins in the busiest second against a mean of 17), and a poll that waits behind such a
 * pile for the per-host login cap (LOGIN_CONCURRENCY_PER_HOST, which is not the limit itself)
 * comes later than its interval: the slowest delivery → message.new was 63.9 s, above interval
 * + 2 s. With fixed slots: 28 in the busiest second, slowest 59.6 s, on the same loaded machine.
 */
export function nextPollSlot(accountId: string, intervalMs: number, after: number): number {
  const phase = createHash('sha1').update(accountId).digest().readUInt32BE(0) % intervalMs;
  const sincePreviousSlot = (((after - phase) % intervalMs) + intervalMs) % intervalMs;
  return after - sincePreviousSlot + intervalMs;
}
