import { Pop3LeaseLostError, Pop3PollPlan, Pop3UidlEntry } from '@pushmail/pop3';
import { Pop3Settings } from '@pushmail/contracts';
import { FakeSessionContext, RecordingOwner, TIMINGS } from '../imap/session-context.fake';
import { PolledPop3Client, Pop3Context, Pop3Poller, nextPollSlot } from './pop3-poller';

describe('nextPollSlot', () => {
  const interval = 60_000;

  it('is after the given time and at most one interval later, on the same phase every time', () => {
    const t = Date.UTC(2026, 0, 1);
    for (const id of ['acc_a', 'acc_b', 'acc_c']) {
      const first = nextPollSlot(id, interval, t);
      expect(first).toBeGreaterThan(t);
      expect(first - t).toBeLessThanOrEqual(interval);
      // From a slot, the next one is exactly one interval later; from just before it, that slot.
      expect(nextPollSlot(id, interval, first)).toBe(first + interval);
      expect(nextPollSlot(id, interval, first - 1)).toBe(first);
      expect(nextPollSlot(id, interval, first + 250)).toBe(first + interval);
    }
  });

  it('spreads 1,000 accounts evenly over the interval: no second holds twice the mean', () => {
    const perSecond = new Array(60).fill(0);
    for (let i = 0; i < 1000; i++) perSecond[Math.floor((nextPollSlot(`acc_${i.toString(36)}x${i * 7919}`, interval, 0) % interval) / 1000)]++;
    const mean = 1000 / 60;
    expect(Math.max(...perSecond)).toBeLessThan(2 * mean);
    expect(perSecond.filter((n) => n === 0)).toEqual([]);
  });
});

/** One POP3 connection to a {@link FakePop3Server}: records its commands; `close()` fails the one in flight, as a socket's end does. */
class FakePop3Client implements PolledPop3Client {
  readonly commands: string[] = [];
  private cut?: (err: Error) => void;
  constructor(private readonly server: FakePop3Server) {}
  async uidl(): Promise<Pop3UidlEntry[]> {
    this.commands.push('UIDL');
    if (this.server.hangUidl) return new Promise<Pop3UidlEntry[]>((_resolve, reject) => (this.cut = reject));
    return this.server.uidls.map((uid, i) => ({ msg: i + 1, uid }));
  }
  async dele(msg: number): Promise<void> {
    this.commands.push(`DELE ${msg}`);
  }
  async quit(): Promise<void> {
    this.commands.push('QUIT');
  }
  close(): void {
    this.commands.push('close');
    this.cut?.(Object.assign(new Error('connection closed'), { code: 'ECONNRESET' }));
  }
}

/**
 * A POP3 mailbox and the pushmail state kept about it, in memory: the server's UIDLs, and the
 * UIDL → uid map that Pop3UidStore keeps in Redis (uids in arrival order, one UID space).
 */
class FakePop3Server implements Pop3Context {
  uidls: string[] = [];
  loginError?: () => Error;
  hangUidl = false;
  /** The next plan finds the lease taken by another watcher. */
  leaseLost = false;
  readonly clients: FakePop3Client[] = [];
  readonly known = new Map<string, number>();
  /** What the last plan assigned; its commit keeps it. */
  private planned = new Map<string, number>();
  readonly committed: Pop3PollPlan[] = [];
  readonly order: string[] = [];
  lastPoll: number | null = null;
  /** UIDLs the fetcher read, and when (for deleteAfterDays). */
  readonly fetchedAt = new Map<string, number>();

  readonly factory: Pop3Context['factory'] = {
    connect: async () => {
      if (this.loginError) throw this.loginError();
      const client = new FakePop3Client(this);
      this.clients.push(client);
      return client;
    },
  };
  readonly uids: Pop3Context['uids'] = {
    lastPollAt: async () => this.lastPoll,
    plan: async (accountId, _lease, uidls) => {
      if (this.leaseLost) throw new Pop3LeaseLostError(accountId);
      this.order.push('plan');
      let next = Math.max(0, ...this.known.values()) + 1;
      this.planned = new Map(uidls.filter((u) => !this.known.has(u)).map((u) => [u, next++]));
      const newUids = [...this.planned.values()];
      const goneUids = [...this.known].filter(([u]) => !uidls.includes(u)).map(([, uid]) => uid);
      return { uidValidity: 1, newUids, goneUids };
    },
    commit: async (_accountId, _lease, plan, now) => {
      this.order.push('commit');
      this.committed.push(plan);
      for (const [uidl, uid] of this.planned) this.known.set(uidl, uid);
      for (const uid of plan.goneUids) for (const [uidl, known] of this.known) if (known === uid) this.known.delete(uidl);
      this.lastPoll = now ?? Date.now();
    },
    fetchedBefore: async (_accountId, cutoff) => [...this.fetchedAt].filter(([, at]) => at < cutoff).map(([u]) => u),
  };
}

const settings: Pop3Settings = { host: '127.0.0.1', port: 110, secure: false, user: 'user', pass: 'pass' };
const INTERVAL = 60_000;
const settle = () => new Promise((r) => setImmediate(r));

function makePoller(server = new FakePop3Server(), pop3Settings: Pop3Settings = settings) {
  const ctx = new FakeSessionContext();
  const owner = new RecordingOwner();
  // Where the enqueue falls between the plan and the commit.
  const enqueue = ctx.sync.enqueue;
  ctx.sync.enqueue = async (...args) => {
    server.order.push('enqueue');
    return enqueue(...args);
  };
  const poller = new Pop3Poller('acc-pop', pop3Settings, INTERVAL, 'lease-1', ctx, server, owner);
  return { ctx, owner, poller, server };
}

describe('Pop3Poller', () => {
  it('polls at once when the account was never polled: UIDL, jobs, then the commit, then QUIT; next poll at the account’s slot', async () => {
    const { ctx, owner, poller, server } = makePoller();
    server.uidls = ['a', 'b'];
    const before = Date.now();
    await poller.connect();
    await settle();
    expect(owner.states).toEqual(['connecting', 'connected']);
    expect(server.clients[0].commands).toEqual(['UIDL', 'QUIT']);
    // Enqueue first, commit after: a crash in between repeats the jobs (same ids), never loses them.
    expect(server.order).toEqual(['plan', 'enqueue', 'commit']);
    expect(ctx.enqueued).toEqual([{ mailbox: 'INBOX', uidValidity: 1, batch: expect.objectContaining({ newUids: [1, 2], changes: [] }) }]);
    expect(poller.nextAttemptAt).toBe(nextPollSlot('acc-pop', INTERVAL, server.lastPoll!));
    expect(poller.nextAttemptAt - before).toBeLessThanOrEqual(INTERVAL + 50);
  });

  it('resumes a failed-over account at its next slot after the last poll, not at once', async () => {
    const server = new FakePop3Server();
    server.lastPoll = Date.now() - 1000;
    const { poller } = makePoller(server);
    await poller.connect();
    expect(server.clients).toHaveLength(0);
    expect(poller.nextAttemptAt).toBe(nextPollSlot('acc-pop', INTERVAL, server.lastPoll));
    poller.tick(poller.nextAttemptAt - 1);
    await settle();
    expect(server.clients).toHaveLength(0);
    poller.tick(poller.nextAttemptAt);
    await settle();
    expect(server.clients).toHaveLength(1);
  });

  it('enqueues only what is new, and a deletion for a UIDL the server no longer lists', async () => {
    const { ctx, poller, server } = makePoller();
    server.uidls = ['a', 'b'];
    await poller.poll();
    server.uidls = ['b', 'c'];
    await poller.poll();
    expect(ctx.enqueued[1].batch).toMatchObject({ newUids: [3], changes: [{ kind: 'deleted', uid: 1 }] });
  });

  it('backs off AUTH_FAILURE_BACKOFF_MS after a refused password and counts it', async () => {
    const { ctx, owner, poller, server } = makePoller();
    server.loginError = () => Object.assign(new Error('-ERR [AUTH] invalid'), { authenticationFailed: true });
    const before = Date.now();
    await poller.poll();
    expect(owner.states).toEqual(['auth_failed']);
    expect(poller.lastError).toBe('auth_failed');
    expect((await ctx.metrics.authFailures.get()).values[0].value).toBe(1);
    expect(poller.nextAttemptAt - before).toBeGreaterThan(TIMINGS.AUTH_FAILURE_BACKOFF_MS / 2);
  });

  it('retries a failed poll with backoff, never later than the next regular poll', async () => {
    const { ctx, owner, poller, server } = makePoller();
    server.loginError = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const before = Date.now();
    for (let i = 0; i < 12; i++) await poller.poll();
    expect(owner.states).toEqual(['error']);
    expect(poller.lastError).toBe('connection_failed');
    // Twelve failures in a row would back off past 5 minutes; the interval caps it.
    expect(poller.nextAttemptAt - before).toBeLessThanOrEqual(INTERVAL + 50);
    expect((await ctx.metrics.reconnects.get()).values[0].value).toBe(12);
    server.loginError = undefined;
    await poller.poll();
    expect(owner.states).toEqual(['error', 'connected']);
    expect(poller.lastError).toBeUndefined();
  });

  it('stops for good when another watcher took the lease, enqueuing nothing', async () => {
    const { ctx, owner, poller, server } = makePoller();
    server.uidls = ['a'];
    server.leaseLost = true;
    await poller.poll();
    expect(poller.state).toBe('stopped');
    expect(owner.leasesLost).toEqual(['acc-pop']);
    expect(ctx.enqueued).toEqual([]);
    expect(server.clients[0].commands).toEqual(['UIDL', 'close']);
  });

  it('stopped mid-poll: the connection is cut without QUIT (no DELE lands) and nothing is reported', async () => {
    const { ctx, owner, poller, server } = makePoller();
    server.uidls = ['a'];
    server.hangUidl = true;
    const polling = poller.poll();
    await settle();
    await poller.stop();
    await polling;
    // The cut fails the UIDL in flight; that failure is the stop's, not an error to report or retry.
    expect(server.clients[0].commands).toEqual(['UIDL', 'close', 'close']);
    expect(owner.states).toEqual([]);
    expect(poller.state).toBe('stopped');
    expect(ctx.warnings).toEqual([]);
    expect((await ctx.metrics.reconnects.get()).values[0]?.value ?? 0).toBe(0);
    poller.tick(Date.now() + 10 * INTERVAL);
    expect(server.clients).toHaveLength(1);
  });

  it('with deleteAfterDays, DELEs what the fetcher read that long ago, and only that, before QUIT', async () => {
    const server = new FakePop3Server();
    server.uidls = ['old', 'recent', 'unread'];
    server.fetchedAt.set('old', Date.now() - 8 * 86_400_000);
    server.fetchedAt.set('recent', Date.now() - 86_400_000);
    const { poller } = makePoller(server, { ...settings, deleteAfterDays: 7 });
    await poller.poll();
    expect(server.clients[0].commands).toEqual(['UIDL', 'DELE 1', 'QUIT']);
  });
});
