import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import { AccountChangeNotice, AccountState, AccountView } from '@pushmail/contracts';
import { ImapClientFactory } from '@pushmail/imap';
import { HealthService } from '@pushmail/observability';
import { Pop3ClientFactory, Pop3UidStore } from '@pushmail/pop3';
import { AccountWatcher, AccountWatcherOwner, WatcherContext } from './account-watcher';
import { isAssignedTo } from './coordination/hrw';
import { Lease, LeaseManager } from './coordination/lease.manager';
import { Members, MembershipService } from './coordination/membership.service';
import { WatcherIdentity } from './coordination/watcher-identity';
import { LoginLimiter } from './imap/login-limiter';
import { CursorStore } from '@pushmail/mailbox-cursors';
import { MailboxSyncService } from './sync/mailbox-sync.service';
import { OwnershipSettings, SessionSettings } from './settings';
import { WatcherMetrics } from './watcher.metrics';

/**
 * Decides which accounts this watcher watches and keeps that true: membership heartbeats,
 * rendezvous assignment, leases, account-change notices, and the one shared tick that drives
 * every session's reconnects, polls and half-open checks.
 */
@Injectable()
export class WatcherService implements OnApplicationBootstrap, OnModuleDestroy, AccountWatcherOwner {
  private readonly logger = new Logger(WatcherService.name);
  private readonly ctx: WatcherContext;
  private readonly owned = new Map<string, AccountWatcher>();
  /** Accounts we should own whose lease another watcher still holds (it is letting go). */
  private readonly waiting = new Set<string>();
  private members: Members = { live: [], full: new Set(), dead: new Set() };
  private lastHeartbeatAt = 0;
  private lastRenewAt = 0;
  private heartbeating = false;
  /** Every change of ownership runs through this chain, one at a time. */
  private ownership: Promise<void> = Promise.resolve();
  private reconcileQueued = false;
  private acquireQueued = false;
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;
  private readonly stateWrites = new Map<string, { state: AccountState; error?: string; delivery?: AccountView['delivery'] }>();
  private readonly stateWriting = new Set<string>();

  constructor(
    private readonly settings: OwnershipSettings,
    session: SessionSettings,
    private readonly accounts: AccountRepository,
    private readonly leases: LeaseManager,
    private readonly membership: MembershipService,
    private readonly cursors: CursorStore,
    private readonly identity: WatcherIdentity,
    private readonly health: HealthService,
    private readonly metrics: WatcherMetrics,
    factory: ImapClientFactory,
    sync: MailboxSyncService,
    pop3Factory: Pop3ClientFactory,
    pop3Uids: Pop3UidStore,
  ) {
    this.ctx = {
      factory,
      sync,
      metrics,
      limiter: new LoginLimiter(session.loginConcurrency, session.loginConcurrencyPerHost),
      timingsFor: session.timingsFor,
      watcherId: identity.id,
      logger: new Logger('MailSession'),
      pop3: { factory: pop3Factory, uids: pop3Uids },
    };
  }

  get id(): string {
    return this.identity.id;
  }

  private get full(): boolean {
    return this.owned.size >= this.settings.maxAccounts;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.metrics.registerGauges(
      () => {
        const counts = new Map<string, number>();
        for (const w of this.owned.values()) for (const s of w.sessions) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
        return counts;
      },
      () => this.owned.size,
    );
    this.health.register('watcher', () => {
      if (Date.now() - this.lastHeartbeatAt > this.settings.leaseTtlMs) return { ok: false, detail: 'cannot heartbeat in Redis, so cannot take leases' };
      if (this.full) return { ok: false, detail: `at capacity (${this.owned.size}/${this.settings.maxAccounts} accounts)` };
      return { ok: true, detail: `${this.owned.size} accounts` };
    });
    await this.accounts.onChange((notice) => this.onAccountChange(notice));
    await this.heartbeat();
    this.requestReconcile();
    this.timers.push(
      setInterval(() => this.tick(), this.settings.tickMs),
      setInterval(() => void this.heartbeat(), this.settings.heartbeatIntervalMs),
      setInterval(() => this.requestReconcile(), this.settings.reconcileIntervalMs),
    );
    this.logger.log({ msg: 'watcher started', watcher: this.id });
  }

  /**
   * Runs before Redis and the queues close (Nest destroys the root module first): sessions are
   * closed, then every lease is released, so other watchers take over within a heartbeat.
   */
  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    // With Redis down every command would retry for a long time; shutdown must still finish.
    const deadline = Math.max(1000, Math.min(5000, this.settings.shutdownTimeoutMs / 2));
    const bounded = (what: string, work: Promise<unknown>) => withDeadline(work, deadline).catch((err) => this.logger.warn({ msg: `${what} during shutdown failed`, err }));
    await bounded('leaving membership', this.membership.leave());
    const all = [...this.owned.keys()];
    await bounded('releasing leases', Promise.all(all.map((id) => this.release(id, 'shutdown'))));
    this.logger.log({ msg: 'watcher stopped; leases released', watcher: this.id, accounts: all.length });
  }

  /** One timer for every session: reconnects when due, polls, half-open probes, lease deadlines. */
  private tick(): void {
    const now = Date.now();
    // Guard band: stop before the lease can expire in Redis and someone else connects.
    const guard = Math.max(200, this.settings.leaseTtlMs / 10);
    for (const w of this.owned.values()) {
      if (now > w.lease.validUntil - guard) {
        this.onLeaseLost(w.id, 'lease could not be renewed in time');
        continue;
      }
      w.tick(now);
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.heartbeating || this.stopping) return;
    this.heartbeating = true;
    try {
      const view = (m: Members) => `${m.live.join(',')}|${[...m.full].sort().join(',')}|${[...m.dead].sort().join(',')}`;
      const before = view(this.members);
      const previous = this.members.live;
      this.members = await this.membership.heartbeat(this.memberTtlMs, this.full);
      this.lastHeartbeatAt = Date.now();
      // A member joining, leaving, filling up or making room changes who should own what.
      if (view(this.members) !== before) {
        const vanished = previous.filter((m) => m !== this.id && !this.members.live.includes(m));
        // Judged before the reconcile below, which takes the dead members' accounts at once.
        if (vanished.length) await this.judgeVanished(vanished);
        this.logger.log({ msg: 'watcher membership changed', members: this.members.live });
        this.requestReconcile();
      } else if (this.waiting.size) {
        this.requestAcquire();
      }
      if (Date.now() - this.lastRenewAt >= this.settings.leaseTtlMs / 3) {
        this.lastRenewAt = Date.now();
        const lost = await this.leases.renew(
          [...this.owned.values()].map((w) => w.lease),
          this.settings.leaseTtlMs,
        );
        for (const lease of lost) this.onLeaseLost(lease.accountId, 'lease taken over');
      }
    } catch (err) {
      this.logger.warn({ msg: 'heartbeat failed', err });
    } finally {
      this.heartbeating = false;
    }
  }

  /** At least three heartbeats, so one late heartbeat does not drop a live member. */
  private get memberTtlMs(): number {
    return Math.max(this.settings.memberTtlMs, 3 * this.settings.heartbeatIntervalMs);
  }

  /**
   * Members that dropped out without leaving: dead (killed, crashed) or cut off from Redis. Only
   * the dead ones' leases are taken now; a partitioned watcher may still be IDLEing, so its
   * accounts wait for their leases to expire (fencing covers a watcher wrongly judged dead).
   */
  private async judgeVanished(vanished: string[]): Promise<void> {
    // Another watcher may have judged (and marked) them already.
    const unjudged = vanished.filter((m) => !this.members.dead.has(m));
    if (!unjudged.length) return;
    try {
      const verdict = await this.membership.confirmDead(unjudged, this.settings.leaseTtlMs);
      const dead = verdict.ok ? verdict.dead : [];
      // Shared, so that the other watchers take the dead member's accounts they are assigned, even
      // those whose own connection is too young to judge.
      await this.membership.markDead(dead, this.settings.leaseTtlMs, this.memberTtlMs);
      for (const id of dead) this.members.dead.add(id);
      const waiting = unjudged.filter((m) => !dead.includes(m));
      if (dead.length) this.logger.warn({ msg: 'watchers died (heartbeat connection gone); taking over their leases', members: dead });
      if (waiting.length) this.logger.warn({ msg: 'watchers stopped heartbeating; their leases are left to expire', members: waiting, why: verdict.ok ? 'heartbeat connection still open (partitioned or paused?)' : verdict.why });
    } catch (err) {
      this.logger.warn({ msg: 'could not judge vanished watchers; their leases are left to expire', members: unjudged, err });
    }
  }

  /** Should this watcher own the account, given the live members? */
  private isMine(accountId: string): boolean {
    const full = this.full ? new Set([...this.members.full, this.id]) : this.members.full;
    return isAssignedTo(accountId, this.id, this.members.live, full);
  }

  private requestReconcile(): void {
    if (this.reconcileQueued || this.stopping) return;
    this.reconcileQueued = true;
    void this.serially(async () => {
      this.reconcileQueued = false;
      await this.reconcile();
    });
  }

  private async reconcile(): Promise<void> {
    if (this.stopping) return;
    const ids = await this.accounts.listIds();
    const exists = new Set(ids);
    const letGo: Promise<void>[] = [];
    for (const id of this.owned.keys()) {
      if (!exists.has(id)) letGo.push(this.release(id, 'deleted'));
      else if (!this.isMine(id)) letGo.push(this.release(id, 'rebalanced'));
    }
    await Promise.all(letGo);
    this.waiting.clear();
    for (const id of ids) if (!this.owned.has(id) && this.isMine(id)) this.waiting.add(id);
    await this.acquireWaiting();
  }

  private async acquireWaiting(): Promise<void> {
    if (this.stopping) return;
    const candidates = [...this.waiting].filter((id) => this.isMine(id));
    this.waiting.clear();
    const room = this.settings.maxAccounts - this.owned.size;
    if (candidates.length > room) {
      this.logger.warn({ msg: 'watcher at capacity; not taking more accounts', owned: this.owned.size, max: this.settings.maxAccounts, refused: candidates.length - room });
    }
    const batch = candidates.slice(0, Math.max(0, room));
    for (const id of candidates.slice(batch.length)) this.waiting.add(id);
    const results = await Promise.all(
      batch.map(async (id) => {
        try {
          return { id, lease: await this.leases.acquire(id, this.settings.leaseTtlMs, this.members.dead) };
        } catch (err) {
          this.logger.warn({ msg: 'lease acquire failed', accountId: id, err });
          return { id, lease: null };
        }
      }),
    );
    await Promise.all(
      results.map(async ({ id, lease }) => {
        if (!lease) {
          this.waiting.add(id);
          return;
        }
        await this.startAccount(id, lease);
      }),
    );
  }

  private async startAccount(id: string, lease: Lease): Promise<AccountWatcher | undefined> {
    try {
      const account = await this.accounts.get(id);
      if (!account || this.stopping) {
        await this.leases.release(lease);
        return undefined;
      }
      const watcher = new AccountWatcher(account, lease, this.ctx, this);
      this.owned.set(id, watcher);
      this.logger.log({ msg: 'account acquired', accountId: id, fence: lease.fence, watcher: this.id });
      watcher.start();
      return watcher;
    } catch (err) {
      // Unreadable settings (a key rotated without PUSHMAIL_SECRET_KEY_PREVIOUS, say) do not get
      // better by retrying every second: say so once, and let the periodic reconcile try again.
      this.logger.error({ msg: 'could not start account; retrying at the next reconcile', accountId: id, err });
      this.owned.delete(id);
      await this.accounts.setState(id, 'error', 'the watcher could not read this account’s settings').catch(() => undefined);
      await this.leases.release(lease).catch(() => undefined);
      return undefined;
    }
  }

  /** Closes the account's sessions, then lets go of its lease: the next owner never overlaps. */
  private async release(id: string, why: 'deleted' | 'rebalanced' | 'shutdown' | 'updated' | 'lost'): Promise<void> {
    const watcher = this.owned.get(id);
    if (!watcher) return;
    this.owned.delete(id);
    await watcher.stop();
    if (why === 'deleted') {
      await this.cursors.deleteAccount(id).catch((err) => this.logger.warn({ msg: 'could not delete cursors', accountId: id, err }));
    } else if (why !== 'lost' && why !== 'updated') {
      // Written before the lease goes, so it cannot land after the next owner's "connected".
      await this.accounts.setState(id, 'disconnected').catch((err) => this.logger.warn({ msg: 'could not store account state', accountId: id, err }));
    }
    if (why !== 'updated') await this.leases.release(watcher.lease).catch((err) => this.logger.warn({ msg: 'could not release lease', accountId: id, err }));
    this.logger.log({ msg: 'account released', accountId: id, why, watcher: this.id });
  }

  onLeaseLost(accountId: string, why = 'cursor write refused'): void {
    const watcher = this.owned.get(accountId);
    if (!watcher) return;
    this.logger.warn({ msg: 'lease lost; closing sessions', accountId, why });
    // Stop at once (not behind the ownership queue): someone else may be about to connect.
    this.owned.delete(accountId);
    void watcher.stop().then(() => this.requestReconcile());
  }

  private onAccountChange(notice: AccountChangeNotice): void {
    if (this.stopping) return;
    const { accountId, change } = notice;
    void this.serially(async () => {
      if (change === 'deleted') {
        await this.release(accountId, 'deleted');
        this.waiting.delete(accountId);
        return;
      }
      const current = this.owned.get(accountId);
      if (change === 'updated' && current) {
        // New settings or mailboxes: reconnect with them, keeping the lease.
        await this.release(accountId, 'updated');
        const next = await this.startAccount(accountId, current.lease);
        for (const mailbox of current.mailboxes) if (next && !next.mailboxes.includes(mailbox)) await this.cursors.delete(accountId, mailbox);
        return;
      }
      if (!current && this.isMine(accountId)) {
        this.waiting.add(accountId);
        this.requestAcquire();
      }
    });
  }

  /** Coalesces a burst of new accounts (bulk registration) into one parallel round of acquisitions. */
  private requestAcquire(): void {
    if (this.acquireQueued || this.stopping) return;
    this.acquireQueued = true;
    void this.serially(async () => {
      this.acquireQueued = false;
      await this.acquireWaiting();
    });
  }

  /** Latest state wins per account; at most one write in flight for each. */
  publishState(accountId: string, state: AccountState, error?: string, delivery?: AccountView['delivery']): void {
    this.stateWrites.set(accountId, { state, ...(error ? { error } : {}), ...(delivery ? { delivery } : {}) });
    if (this.stateWriting.has(accountId)) return;
    this.stateWriting.add(accountId);
    void (async () => {
      try {
        let next;
        while ((next = this.stateWrites.get(accountId))) {
          this.stateWrites.delete(accountId);
          await this.accounts.setState(accountId, next.state, next.error, next.delivery).catch((err) => this.logger.warn({ msg: 'could not store account state', accountId, err }));
        }
      } finally {
        this.stateWriting.delete(accountId);
      }
    })();
  }

  private serially(work: () => Promise<void>): Promise<void> {
    const run = this.ownership.then(work).catch((err) => this.logger.error({ msg: 'ownership change failed', err }));
    this.ownership = run;
    return run;
  }
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`gave up after ${ms} ms`)), ms);
    }),
  ]);
}
