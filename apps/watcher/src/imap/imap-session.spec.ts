import { fakeImapAccount } from '@pushmail/testing';
import { ImapSession } from './imap-session';
import { FakeSessionContext, RecordingOwner, TIMINGS } from './session-context.fake';

const settle = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function makeSession(ctx = new FakeSessionContext(), watch = ['INBOX']) {
  const owner = new RecordingOwner();
  const session = new ImapSession('acc-1', watch, fakeImapAccount('acc-1').imap, 'lease-1', ctx, owner);
  return { ctx, owner, session };
}

/** A refused password as imapflow reports it. */
const refusedLogin = () => Object.assign(new Error('Authentication failed'), { authenticationFailed: true, serverResponseCode: 'AUTHENTICATIONFAILED' });

describe('ImapSession: connecting', () => {
  it('logs in, examines the home folder, baselines its cursor and waits in IDLE: delivery is push', async () => {
    const { ctx, owner, session } = makeSession();
    ctx.server.deliver();
    ctx.server.deliver();
    await session.connect();
    expect(owner.states).toEqual(['connecting', 'connected']);
    expect(session.delivery).toBe('push');
    expect(ctx.live.commands).toEqual(['LOGIN', 'EXAMINE INBOX', 'UID SEARCH ALL', 'UID SEARCH UNSEEN', 'IDLE']);
    // Mail from before the first connect is the baseline, not news: no fetch job for it.
    expect(ctx.cursors.get('INBOX')).toMatchObject({ uidValidity: 1000, uidNext: 3 });
    expect(ctx.newUids()).toEqual([]);
  });

  it('polls where the server has no IDLE, or where the host is told not to use it', async () => {
    const noIdle = new FakeSessionContext();
    noIdle.server.capabilities = ['IMAP4rev1'];
    const a = makeSession(noIdle);
    await a.session.connect();
    expect(a.session.delivery).toBe('poll');
    expect(noIdle.live.commands).not.toContain('IDLE');

    const disabled = new FakeSessionContext();
    disabled.timings = { ...TIMINGS, DISABLE_IDLE: true };
    const b = makeSession(disabled);
    await b.session.connect();
    expect(b.session.delivery).toBe('poll');

    // The shared tick polls with NOOP once POLL_INTERVAL_MS has passed, not before.
    a.session.tick(Date.now() + 1000);
    await settle();
    expect(noIdle.live.commands.filter((c) => c === 'NOOP')).toHaveLength(0);
    a.session.tick(Date.now() + TIMINGS.POLL_INTERVAL_MS + 1000);
    await settle();
    expect(noIdle.live.commands.filter((c) => c === 'NOOP')).toHaveLength(1);
  });

  it('backs off AUTH_FAILURE_BACKOFF_MS after a refused password, counts it and closes the client', async () => {
    const { ctx, owner, session } = makeSession();
    ctx.server.loginError = refusedLogin;
    const before = Date.now();
    await session.connect();
    expect(owner.states).toEqual(['connecting', 'auth_failed']);
    expect(session.lastError).toBe('auth_failed');
    expect((await ctx.metrics.authFailures.get()).values[0].value).toBe(1);
    expect(ctx.live.closes).toBe(1);
    // Jittered, but of the order of the auth backoff (an hour), not of a reconnect (a second).
    expect(session.nextAttemptAt - before).toBeGreaterThan(TIMINGS.AUTH_FAILURE_BACKOFF_MS / 2);
    expect(session.nextAttemptAt - before).toBeLessThanOrEqual(TIMINGS.AUTH_FAILURE_BACKOFF_MS * 1.5);
  });

  it('treats a login the server turned away for now (LIMIT) as an error to retry soon, not a wrong password', async () => {
    const { ctx, owner, session } = makeSession();
    ctx.server.loginError = () => Object.assign(new Error('Too many connections'), { authenticationFailed: true, serverResponseCode: 'LIMIT' });
    const before = Date.now();
    await session.connect();
    expect(owner.states).toEqual(['connecting', 'error']);
    expect((await ctx.metrics.authFailures.get()).values[0]?.value ?? 0).toBe(0);
    expect(session.nextAttemptAt - before).toBeLessThanOrEqual(TIMINGS.BACKOFF_MIN_MS + 50);
  });

  it('retries only when the shared tick reaches nextAttemptAt, with a new client', async () => {
    const { ctx, owner, session } = makeSession();
    ctx.server.loginError = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:143'), { code: 'ECONNREFUSED' });
    await session.connect();
    expect(session.lastError).toBe('connection_failed');
    expect(ctx.server.clients).toHaveLength(1);
    session.tick(session.nextAttemptAt - 1);
    await settle();
    expect(ctx.server.clients).toHaveLength(1);

    ctx.server.loginError = undefined;
    session.tick(session.nextAttemptAt);
    await sleep(5);
    expect(ctx.server.clients).toHaveLength(2);
    expect(owner.states).toEqual(['connecting', 'error', 'connecting', 'connected']);
    expect(session.lastError).toBeUndefined();
  });

  it('stopped while logging in: the new client is closed and no state is reported after the stop', async () => {
    const { ctx, owner, session } = makeSession();
    const connecting = session.connect();
    await session.stop();
    await connecting;
    expect(session.state).toBe('stopped');
    expect(owner.states).toEqual(['connecting']);
    expect(ctx.server.clients.every((c) => !c.usable)).toBe(true);
  });

  it('stops for good when another watcher took the lease during the resync', async () => {
    const { ctx, owner, session } = makeSession();
    ctx.leaseLost = true;
    await session.connect();
    expect(session.state).toBe('stopped');
    expect(owner.leasesLost).toEqual(['acc-1']);
    expect(ctx.live.usable).toBe(false);
  });
});

describe('ImapSession: connected', () => {
  it('turns an EXISTS under IDLE into one fetch job for the new UID, confirmed by UID SEARCH, then IDLEs again', async () => {
    const { ctx, session } = makeSession();
    await session.connect();
    const uid = ctx.server.deliver();
    await sleep(5);
    expect(ctx.newUids()).toEqual([[uid]]);
    expect(ctx.live.commands.slice(-2)).toEqual([`UID SEARCH ${uid}:*`, 'IDLE']);
    expect(ctx.cursors.get('INBOX')).toMatchObject({ uidNext: uid + 1 });
  });

  it('after the server drops the connection, reconnects on the tick and enqueues the mail that arrived meanwhile, once', async () => {
    const { ctx, owner, session } = makeSession();
    ctx.server.deliver();
    await session.connect();
    ctx.live.drop();
    expect(session.state).toBe('disconnected');
    const missed = [ctx.server.deliver(), ctx.server.deliver()];
    session.tick(session.nextAttemptAt);
    await sleep(5);
    expect(owner.states).toEqual(['connecting', 'connected', 'disconnected', 'connecting', 'connected']);
    expect(ctx.newUids()).toEqual([missed]);
    expect(ctx.cursors.get('INBOX')).toMatchObject({ uidNext: missed[1] + 1 });
  });

  it('finds a half-open connection: after HALF_OPEN_TIMEOUT_MS of silence a NOOP, and no answer within NOOP_TIMEOUT_MS means reconnect', async () => {
    const { ctx, session } = makeSession();
    await session.connect();
    const client = ctx.live;
    client.hangNoop = true;
    // The tick counts the server's last bytes (IDLE's continuation) as traffic at t0.
    const t0 = Date.now();
    session.tick(t0);
    // Silence shorter than the timeout: no probe.
    session.tick(t0 + TIMINGS.HALF_OPEN_TIMEOUT_MS - 1);
    await settle();
    expect(client.commands).not.toContain('NOOP');
    session.tick(t0 + TIMINGS.HALF_OPEN_TIMEOUT_MS);
    await settle();
    expect(client.commands).toContain('NOOP');
    expect(session.state).toBe('connected');
    await sleep(TIMINGS.NOOP_TIMEOUT_MS + 20);
    expect(session.state).toBe('error');
    expect(session.lastError).toBe('timeout');
    expect(client.usable).toBe(false);
    expect(ctx.warnings).toContainEqual(expect.objectContaining({ msg: 'imap connection unresponsive; reconnecting' }));
  });

  it('a connection imapflow marked unusable is replaced on the next tick', async () => {
    const { ctx, owner, session } = makeSession();
    await session.connect();
    // imapflow clears `usable` when its socket errors, at times before any 'close'.
    ctx.live.usable = false;
    session.tick(Date.now());
    expect(owner.states.at(-1)).toBe('error');
    session.tick(session.nextAttemptAt);
    await sleep(5);
    expect(ctx.server.clients).toHaveLength(2);
    expect(session.state).toBe('connected');
  });

  it('without NOTIFY, watches the other folders by a STATUS sweep: new mail in one is enqueued under it, and the session goes back to INBOX', async () => {
    const ctx = new FakeSessionContext();
    ctx.server.folders.set('Rules', { uidValidity: 2000, uidNext: 1, uids: [] });
    const { session } = makeSession(ctx, ['*']);
    await session.connect();
    expect(ctx.live.commands).toEqual(['LOGIN', 'LIST', 'EXAMINE Rules', 'UID SEARCH ALL', 'UID SEARCH UNSEEN', 'EXAMINE INBOX', 'UID SEARCH ALL', 'UID SEARCH UNSEEN', 'IDLE']);
    const uid = ctx.server.deliver('Rules');
    // Nothing tells an IDLE on INBOX about Rules: only the sweep finds it, every FOLDER_SWEEP_INTERVAL_MS.
    await settle();
    expect(ctx.newUids()).toEqual([]);
    session.tick(Date.now() + TIMINGS.FOLDER_SWEEP_INTERVAL_MS);
    await sleep(5);
    // Announced from the sweep's STATUS at once; the visit's resync does not enqueue it again.
    expect(ctx.enqueued.filter((e) => e.batch.newUids?.length).map((e) => [e.mailbox, e.uidValidity, e.batch.newUids])).toEqual([['Rules', 2000, [uid]]]);
    const sinceSweep = ctx.live.commands.slice(ctx.live.commands.indexOf('LIST RETURN (STATUS)'));
    // Without QRESYNC a resync also lists the folder's UIDs and unseen UIDs (expunges, read changes).
    expect(sinceSweep).toEqual([
      'LIST RETURN (STATUS)',
      'EXAMINE Rules',
      'UID SEARCH ALL',
      'UID SEARCH UNSEEN',
      `UID SEARCH ${uid}:*`,
      'EXAMINE INBOX',
      'UID SEARCH ALL',
      'UID SEARCH UNSEEN',
      'UID SEARCH 1:*',
      'IDLE',
    ]);
    expect(ctx.cursors.get('Rules')).toMatchObject({ uidValidity: 2000, uidNext: uid + 1 });
    // New INBOX mail is still pushed by IDLE on the same connection.
    const inboxUid = ctx.server.deliver();
    await sleep(5);
    expect(ctx.enqueued.filter((e) => e.mailbox === 'INBOX' && e.batch.newUids?.length).map((e) => e.batch.newUids)).toEqual([[inboxUid]]);
    expect(ctx.server.clients).toHaveLength(1);
  });

  it('a folder created while watched (no NOTIFY) is found by the sweep: clients are told, and its mail is all news', async () => {
    const ctx = new FakeSessionContext();
    const { session } = makeSession(ctx, ['*']);
    await session.connect();
    expect(ctx.folderListChanges).toBe(0);
    ctx.server.folders.set('Projects', { uidValidity: 3000, uidNext: 1, uids: [] });
    const filed = [ctx.server.deliver('Projects'), ctx.server.deliver('Projects')];
    session.tick(Date.now() + TIMINGS.FOLDER_SWEEP_INTERVAL_MS);
    await sleep(5);
    expect(ctx.folderListChanges).toBe(1);
    // Not a baseline: mail filed into a folder created while the account was watched is new mail.
    expect(ctx.enqueued.filter((e) => e.mailbox === 'Projects' && e.batch.newUids?.length).map((e) => e.batch.newUids)).toEqual([filed]);
    expect(ctx.live.commands.at(-1)).toBe('IDLE');
    // Deleted again: dropped from the watch, clients told again; INBOX stays selected.
    ctx.server.folders.delete('Projects');
    session.tick(Date.now() + 2 * TIMINGS.FOLDER_SWEEP_INTERVAL_MS);
    await sleep(5);
    expect(ctx.folderListChanges).toBe(2);
    expect(ctx.live.commands.slice(ctx.live.commands.lastIndexOf('LIST RETURN (STATUS)'))).not.toContain('EXAMINE Projects');
    expect(session.state).toBe('connected');
    // Forgotten, not just skipped: the next connection does not try to open it.
    ctx.live.drop();
    session.tick(session.nextAttemptAt);
    await sleep(5);
    expect(ctx.server.clients).toHaveLength(2);
    expect(ctx.live.commands).not.toContain('EXAMINE Projects');
  });

  it('a folder deleted and created again under its name while watched: the old generation is reset, and the new one’s mail pushed', async () => {
    const ctx = new FakeSessionContext();
    ctx.server.folders.set('Projects', { uidValidity: 3000, uidNext: 1, uids: [] });
    const { session } = makeSession(ctx, ['*']);
    await session.connect();
    ctx.server.folders.delete('Projects');
    session.tick(Date.now() + TIMINGS.FOLDER_SWEEP_INTERVAL_MS);
    await sleep(5);
    ctx.server.folders.set('Projects', { uidValidity: 3001, uidNext: 1, uids: [] });
    const filed = ctx.server.deliver('Projects');
    session.tick(Date.now() + 2 * TIMINGS.FOLDER_SWEEP_INTERVAL_MS);
    await sleep(5);
    const projects = ctx.enqueued.filter((e) => e.mailbox === 'Projects').map((e) => [e.uidValidity, e.batch.reset ?? e.batch.newUids]);
    expect(projects).toEqual([
      [3001, { previousUidValidity: 3000 }],
      [3001, [filed]],
    ]);
    expect(ctx.cursors.get('Projects')).toMatchObject({ uidValidity: 3001, uidNext: filed + 1 });
  });

  it('a UIDVALIDITY changed while the session was away is a reset: the old generation is withdrawn and the folder baselined again', async () => {
    const { ctx, session } = makeSession();
    ctx.server.deliver();
    await session.connect();
    ctx.live.drop();
    // The server rebuilt the mailbox: a new UID space, the old message renumbered.
    ctx.server.folders.set('INBOX', { uidValidity: 1001, uidNext: 2, uids: [1] });
    session.tick(session.nextAttemptAt);
    await sleep(5);
    expect(session.state).toBe('connected');
    expect(ctx.enqueued).toEqual([{ mailbox: 'INBOX', uidValidity: 1001, batch: { reset: { previousUidValidity: 1000 } } }]);
    expect(ctx.cursors.get('INBOX')).toMatchObject({ uidValidity: 1001, uidNext: 2 });
  });

  it('logs out and closes on stop, and reports nothing after', async () => {
    const { ctx, owner, session } = makeSession();
    await session.connect();
    const reported = owner.states.length;
    await session.stop();
    expect(ctx.live.logouts).toBe(1);
    expect(ctx.live.closes).toBe(1);
    ctx.server.deliver();
    session.tick(Date.now() + TIMINGS.HALF_OPEN_TIMEOUT_MS * 2);
    await settle();
    expect(owner.states).toHaveLength(reported);
    expect(ctx.newUids()).toEqual([]);
  });
});
