import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { AccountSource } from '@pushmail/accounts';
import { ImapClientCreator, ImapClientFactory, isLoginRefused, skipListBeforeSelect } from '@pushmail/imap';
import { MetricsService } from '@pushmail/observability';
import type { ImapFlow, MailboxObject } from 'imapflow';
import { RecentAccounts } from '../accounts/recent-accounts';
import { MailboxNotFoundError } from '../errors';
import { PoolSettings } from '../settings';

/** The account is gone (deleted while its jobs were queued): nothing to fetch, nothing to retry. */
export class AccountGoneError extends Error {
  constructor(readonly accountId: string) {
    super(`account ${accountId} not found`);
    this.name = 'AccountGoneError';
  }
}

/** One pooled IMAP connection, lent to one caller at a time. */
export class PooledConnection {
  private discarded = false;
  /**
   * When the server last brought this connection's view of the selected mailbox up to date (the
   * send time of the last SELECT or NOOP). Mail that arrived later is invisible to a UID FETCH
   * until the next NOOP.
   */
  viewSyncedAt = 0;

  constructor(
    readonly accountId: string,
    readonly client: ImapFlow,
  ) {}

  get usable(): boolean {
    return !this.discarded && this.client.usable;
  }

  markDiscarded(): boolean {
    const first = !this.discarded;
    this.discarded = true;
    return first;
  }

  /** SELECTs the mailbox unless it already is; read-write so flag commands work (fetching uses BODY.PEEK). */
  async open(mailbox: string, force = false): Promise<MailboxObject> {
    const current = this.client.mailbox;
    if (!force && current && current.path === mailbox) return current;
    const sentAt = Date.now();
    skipListBeforeSelect(this.client, mailbox);
    try {
      await this.client.mailboxOpen(mailbox);
    } catch (err) {
      const failure = err as { mailboxMissing?: boolean; serverResponseCode?: string };
      if (failure.mailboxMissing || failure.serverResponseCode === 'NONEXISTENT') {
        throw new MailboxNotFoundError(mailbox);
      }
      throw err;
    }
    const opened = this.client.mailbox;
    if (!opened) throw new Error(`mailbox ${mailbox} could not be opened`);
    this.viewSyncedAt = sentAt;
    return opened;
  }

  /** NOOP: the server reports what changed since the view was last synced, so new mail becomes fetchable. */
  async refreshView(): Promise<void> {
    const sentAt = Date.now();
    await this.client.noop();
    this.viewSyncedAt = sentAt;
  }
}

interface AccountPool {
  idle: PooledConnection[];
  /** Open or opening connections, lent or idle. */
  size: number;
  waiters: Array<() => void>;
  idleTimers: Map<PooledConnection, NodeJS.Timeout>;
  keepalives: Map<PooledConnection, NodeJS.Timeout>;
  /** After a failed connect, jobs fail fast until then instead of each trying to log in again. */
  failedUntil: number;
  failures: number;
  lastError?: Error;
}

const CONNECT_BACKOFF_MIN_MS = 1000;
const CONNECT_BACKOFF_MAX_MS = 60_000;
/**
 * After the server refused the account's credentials: no login until the account changes or this
 * has passed. Its jobs keep retrying for a day (see the queue's job options), and each retry would
 * otherwise be a failed login towards the server's lockout; the watcher waits an hour
 * (AUTH_FAILURE_BACKOFF_MS) for the same reason.
 */
export const LOGIN_REFUSED_BACKOFF_MS = 15 * 60_000;
/**
 * A pooled connection is either busy with a command or idle in the pool: this long without a byte
 * from the server during a command means the server is gone, not thinking.
 */
const POOLED_SOCKET_TIMEOUT_MS = 60_000;
/**
 * imapflow also closes a connection that is quiet this long between commands, so an idle pooled
 * connection says NOOP more often than that, or FETCH_POOL_IDLE_MS could never exceed a minute.
 */
export const POOLED_KEEPALIVE_MS = 45_000;

/**
 * Pooled connections never IDLE: they only run commands; the watcher's sessions hold IDLE.
 * Nor do they need CONDSTORE, QRESYNC or IMAP4rev2: skipping ENABLE saves a round trip per
 * login, and FETCH responses without MODSEQ.
 */
export const POOLED_CLIENT_OPTIONS = { disableAutoIdle: true, disableAutoEnable: true, socketTimeout: POOLED_SOCKET_TIMEOUT_MS } as const;

/**
 * Per-account IMAP connections for fetching and commands, separate from the watcher's IDLE
 * sessions (so a long fetch never delays push). Bounded per account to respect the server's
 * per-user connection limit, reused across a burst, and logged out after an idle time. A closed
 * imapflow client cannot be reused, so a session whose client closed is dropped and replaced.
 */
@Injectable()
export class ImapConnectionPool implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(ImapConnectionPool.name);
  private readonly pools = new Map<string, AccountPool>();
  private readonly logins;
  private closing = false;

  constructor(
    @Inject(RecentAccounts) private readonly accounts: AccountSource,
    @Inject(ImapClientFactory) private readonly factory: ImapClientCreator,
    private readonly metrics: MetricsService,
    private readonly settings: PoolSettings,
  ) {
    this.logins = metrics.counter('pushmail_fetch_pool_logins_total', 'IMAP logins of the fetcher pool (each new pooled connection)');
  }

  async onModuleInit(): Promise<void> {
    const pools = this.pools;
    this.metrics.gauge('pushmail_fetch_pool_connections', 'Open fetcher IMAP connections', [], function () {
      let total = 0;
      for (const pool of pools.values()) total += pool.size;
      this.set(total);
    });
    // New credentials or a deleted account: pooled connections must not outlive the old settings.
    await this.accounts.onChange((notice) => {
      if (notice.change !== 'created') this.closeAccount(notice.accountId);
    });
  }

  /** Runs `work` on a pooled session of the account; the session returns to the pool afterwards. */
  async withSession<T>(accountId: string, work: (session: PooledConnection) => Promise<T>): Promise<T> {
    const session = await this.acquire(accountId);
    try {
      return await work(session);
    } catch (err) {
      // A command that failed mid-way can leave the connection in an unknown state.
      if (!session.client.usable) this.discard(session);
      throw err;
    } finally {
      this.release(session);
    }
  }

  /** Logs out every connection of an account; lent ones are dropped when they come back. */
  closeAccount(accountId: string): void {
    const pool = this.pools.get(accountId);
    if (!pool) return;
    // New settings deserve a fresh attempt.
    pool.failedUntil = 0;
    pool.failures = 0;
    for (const session of [...pool.idle]) this.discard(session);
    pool.idle.length = 0;
  }

  /**
   * Runs after every onModuleDestroy, i.e. after the workers have finished their in-flight jobs,
   * so no job loses its connection halfway through a shutdown.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    for (const pool of this.pools.values()) for (const session of pool.idle) this.clearIdleTimer(pool, session);
    const sessions = [...this.pools.values()].flatMap((p) => p.idle);
    await Promise.allSettled(sessions.map((s) => this.logout(s)));
    this.pools.clear();
  }

  private poolFor(accountId: string): AccountPool {
    let pool = this.pools.get(accountId);
    if (!pool) {
      pool = { idle: [], size: 0, waiters: [], idleTimers: new Map(), keepalives: new Map(), failedUntil: 0, failures: 0 };
      this.pools.set(accountId, pool);
    }
    return pool;
  }

  private async acquire(accountId: string): Promise<PooledConnection> {
    const deadline = Date.now() + this.settings.acquireTimeoutMs;
    const pool = this.poolFor(accountId);
    let waitedBeforeGrowing = false;
    for (;;) {
      if (this.closing) throw new Error('fetcher is shutting down');
      const idle = pool.idle.pop();
      if (idle) {
        this.clearIdleTimer(pool, idle);
        if (idle.usable) return idle;
        this.discard(idle);
        continue;
      }
      // A wrong password or an unreachable server must not turn a queued burst into a login storm.
      if (pool.failedUntil > Date.now() && pool.lastError) throw pool.lastError;
      if (pool.size < this.settings.maxPerAccount) {
        // A busy connection is usually free again within milliseconds, while a new one costs a
        // login, LIST and SELECT: wait for the busy one briefly before growing the pool.
        if (pool.size > 0 && !waitedBeforeGrowing && this.settings.growAfterMs > 0) {
          waitedBeforeGrowing = true;
          await this.waitForRelease(pool, Math.min(this.settings.growAfterMs, Math.max(0, deadline - Date.now())));
          continue;
        }
        pool.size++;
        try {
          const session = await this.connect(accountId, pool);
          pool.failures = 0;
          pool.failedUntil = 0;
          return session;
        } catch (err) {
          pool.size--;
          if (!(err instanceof AccountGoneError)) {
            pool.failures++;
            const backoff = isLoginRefused(err) ? LOGIN_REFUSED_BACKOFF_MS : Math.min(CONNECT_BACKOFF_MAX_MS, CONNECT_BACKOFF_MIN_MS * 2 ** (pool.failures - 1));
            pool.failedUntil = Date.now() + backoff;
            pool.lastError = err as Error;
          }
          this.wakeOne(pool);
          throw err;
        }
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no IMAP connection for account ${accountId} within ${this.settings.acquireTimeoutMs} ms`);
      await this.waitForRelease(pool, remaining);
    }
  }

  /** Resolves when a session of the pool is released or discarded, or after `ms`. */
  private waitForRelease(pool: AccountPool, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        const at = pool.waiters.indexOf(wake);
        if (at >= 0) pool.waiters.splice(at, 1);
        resolve();
      }, ms);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      pool.waiters.push(wake);
    });
  }

  private release(session: PooledConnection): void {
    const pool = this.poolFor(session.accountId);
    if (!session.usable || this.closing) {
      this.discard(session);
      return;
    }
    pool.idle.push(session);
    if (pool.waiters.length) {
      this.wakeOne(pool);
      return;
    }
    this.scheduleIdleClose(pool, session, Date.now());
    this.keepAlive(pool, session);
  }

  /** NOOPs an idle session until it is lent again or closed (see POOLED_KEEPALIVE_MS). */
  private keepAlive(pool: AccountPool, session: PooledConnection): void {
    const timer = setInterval(() => {
      if (!session.usable) return;
      // A dead connection closes itself, and its 'close' handler takes it out of the pool.
      session.refreshView().catch((err: Error) => this.logger.debug({ msg: 'pooled imap keepalive failed', accountId: session.accountId, err: err.message }));
    }, POOLED_KEEPALIVE_MS);
    timer.unref();
    pool.keepalives.set(session, timer);
  }

  /**
   * Extra connections (bursts) close soon; an account's last one stays longer, so the next new
   * message does not pay for a login, LIST and SELECT (several round trips, more with TLS).
   */
  private scheduleIdleClose(pool: AccountPool, session: PooledConnection, idleSince: number): void {
    const last = pool.size <= 1;
    const delay = Math.max(0, idleSince + (last ? this.settings.idleMs : Math.min(this.settings.extraIdleMs, this.settings.idleMs)) - Date.now());
    const timer = setTimeout(() => {
      pool.idleTimers.delete(session);
      // Another connection closed meanwhile: this one is now the last and may stay longer.
      if (!last && pool.size <= 1 && Date.now() < idleSince + this.settings.idleMs) {
        this.scheduleIdleClose(pool, session, idleSince);
        return;
      }
      const at = pool.idle.indexOf(session);
      if (at >= 0) pool.idle.splice(at, 1);
      this.discard(session);
    }, delay);
    timer.unref();
    pool.idleTimers.set(session, timer);
  }

  private async connect(accountId: string, pool: AccountPool): Promise<PooledConnection> {
    const account = await this.accounts.get(accountId);
    if (!account) throw new AccountGoneError(accountId);
    // POP3 accounts are read by Pop3MailboxReader; an IMAP command reaching one is a routing bug.
    if (account.protocol !== 'imap') throw new Error(`account ${accountId} is a POP3 account: no IMAP connection`);
    // Resolves and checks the host again (a rebinding DNS answer is refused here, see ImapClientFactory).
    const client = await this.factory.create(account.imap, POOLED_CLIENT_OPTIONS, accountId);
    const session = new PooledConnection(accountId, client);
    client.on('error', (err: Error) => this.logger.debug({ msg: 'pooled imap connection error', accountId, err: err.message }));
    client.on('close', () => {
      const at = pool.idle.indexOf(session);
      if (at >= 0) pool.idle.splice(at, 1);
      this.clearIdleTimer(pool, session);
      this.discard(session);
    });
    try {
      await client.connect();
    } catch (err) {
      session.markDiscarded();
      client.close();
      throw err;
    }
    this.logins.inc();
    return session;
  }

  /** Takes the session out of the pool's count exactly once and closes its connection. */
  private discard(session: PooledConnection): void {
    if (!session.markDiscarded()) return;
    const pool = this.poolFor(session.accountId);
    pool.size--;
    this.clearIdleTimer(pool, session);
    void this.logout(session);
    this.wakeOne(pool);
    if (pool.size === 0 && pool.waiters.length === 0 && pool.failedUntil <= Date.now()) this.pools.delete(session.accountId);
  }

  private async logout(session: PooledConnection): Promise<void> {
    session.markDiscarded();
    if (!session.client.usable) {
      session.client.close();
      return;
    }
    await Promise.race([session.client.logout(), new Promise((r) => setTimeout(r, 2000).unref())]).catch(() => undefined);
    session.client.close();
  }

  /** Stops the idle close and the keepalive of a session leaving the idle list. */
  private clearIdleTimer(pool: AccountPool, session: PooledConnection): void {
    const timer = pool.idleTimers.get(session);
    if (timer) clearTimeout(timer);
    pool.idleTimers.delete(session);
    const keepalive = pool.keepalives.get(session);
    if (keepalive) clearInterval(keepalive);
    pool.keepalives.delete(session);
  }

  private wakeOne(pool: AccountPool): void {
    pool.waiters.shift()?.();
  }
}
