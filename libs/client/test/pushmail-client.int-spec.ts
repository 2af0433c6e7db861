import { ConnectionState, PushmailClient, PushmailHttpApi } from '@pushmail/client';
import { AccountChangedEvent, MessageNewEvent, ServerEvent, partPath } from '@pushmail/contracts';
import { AppProcess, TestRedis, freePort, testEnv, testStores, waitFor } from '@pushmail/testing';
import { SignJWT } from 'jose';

/** The client library against a real gateway process (built), which is restarted under it. */
// Steps start and restart processes; the project-level testTimeout does not reach files run through `projects`.
jest.setTimeout(60_000);

describe('PushmailClient against a gateway', () => {
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let gateway: AppProcess;
  let port: number;
  let accountId: string;
  let uid = 0;
  const env = () => testEnv(redis.url, { PORT: String(port), SHUTDOWN_DRAIN_MS: '300', SHUTDOWN_RECONNECT_JITTER_MS: '100' });
  const token = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(env().AUTH_JWT_SECRET!));
  const append = () => {
    const n = ++uid;
    const now = new Date().toISOString();
    return stores.eventLog.append(
      accountId,
      ServerEvent.MessageNew,
      { accountId, mailbox: 'INBOX', uid: n, uidValidity: 1, messageId: `<m${n}@example.test>`, subject: `message ${n}`, from: null, to: [], cc: [], date: now, receivedAt: now, flags: [], size: 1, preview: '', text: '', html: null, attachments: [] },
      { dedupeKey: `m${n}`, maxLen: 10_000, ttlSeconds: 3600 },
    );
  };
  const clients: PushmailClient[] = [];
  const newClient = async (sub = 'u1') => {
    const client = new PushmailClient({ url: gateway.url, token: await token(sub), socketOptions: { transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 300 } });
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    redis = await TestRedis.start();
    stores = testStores(redis.url, env().PUSHMAIL_SECRET_KEY);
    port = await freePort();
    gateway = await AppProcess.start('gateway', env());
    const server = { host: '127.0.0.1', port: 143, secure: false, user: 'alice', pass: 'secret-alice' };
    accountId = (await stores.accounts.create({ userId: 'u1', email: 'alice@example.test', imap: server, smtp: server, mailboxes: ['INBOX'] })).id;
  });
  afterEach(() => clients.splice(0).forEach((c) => c.close()));
  afterAll(async () => {
    await gateway?.stop();
    await stores?.close();
    await redis?.dispose();
  });

  it('replays the log from the start, then delivers live events', async () => {
    await append();
    await append();
    const client = await newClient();
    const seen: string[] = [];
    client.on(ServerEvent.MessageNew, (e) => seen.push(e.subject));
    const subscribed = client.subscribe(accountId, { since: 'start' });
    await client.connect();
    expect((await subscribed).replayed).toBeGreaterThanOrEqual(2);
    await append();
    await waitFor(() => seen.includes(`message ${uid}`), 5000, 'the live event');
    expect(seen).toEqual(Array.from({ length: uid }, (_, i) => `message ${i + 1}`));
    expect(client.connection.state).toBe('live');
  });

  it('after the gateway restarts, resumes with since and gets exactly the events it missed', async () => {
    const client = await newClient();
    const seen: MessageNewEvent[] = [];
    const states: ConnectionState[] = [];
    client.on(ServerEvent.MessageNew, (e) => seen.push(e));
    client.on('connection.state', (s) => states.push(s.state));
    await client.connect();
    await client.subscribe(accountId);
    await append();
    await waitFor(() => seen.length === 1, 5000, 'the first live event');

    // SIGTERM: the gateway sends server.shutdown, the client leaves and keeps retrying.
    await gateway.stop('SIGTERM');
    await waitFor(() => client.connection.state !== 'live', 5000, 'the client to notice');
    const missed = [await append(), await append(), await append()].map((r) => r.eventId);
    gateway = await AppProcess.start('gateway', env());

    await waitFor(() => seen.length === 4, 15_000, 'the missed events after reconnecting');
    expect(seen.slice(1).map((e) => e.eventId)).toEqual(missed);
    expect(states).toContain('reconnecting');
    expect(states.at(-1)).toBe('live');
    expect(client.lastEventId(accountId)).toBe(missed.at(-1));
  });

  it('a client with 100 accounts gets all 100 subscribed on connect and again after the gateway restarts', async () => {
    const server = { host: '127.0.0.1', port: 143, secure: false, user: 'many', pass: 'secret-many' };
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push((await stores.accounts.create({ userId: 'many', email: `many${i}@example.test`, imap: server, smtp: server, mailboxes: ['INBOX'] })).id);
    const newOn = (acc: string, n: number) => {
      const now = new Date().toISOString();
      return stores.eventLog.append(
        acc,
        ServerEvent.MessageNew,
        { accountId: acc, mailbox: 'INBOX', uid: n, uidValidity: 1, messageId: `<${acc}-${n}@example.test>`, subject: `${acc} ${n}`, from: null, to: [], cc: [], date: now, receivedAt: now, flags: [], size: 1, preview: '', text: '', html: null, attachments: [] },
        { dedupeKey: `${acc}-${n}`, maxLen: 10_000, ttlSeconds: 3600 },
      );
    };
    const client = await newClient('many');
    const seen = new Map<string, number>();
    const errors: string[] = [];
    client.on(ServerEvent.MessageNew, (e) => seen.set(e.accountId, (seen.get(e.accountId) ?? 0) + 1));
    client.on('subscription.error', (acc, err) => errors.push(`${acc}: ${err.code}`));
    // As an application does: one subscribe() per account before connecting (more than SOCKET_EVENTS_BURST, 40).
    const acks = ids.map((id) => client.subscribe(id));
    await client.connect();
    expect((await Promise.all(acks)).every((a) => a.replayed === 0)).toBe(true);
    await Promise.all(ids.map((id) => newOn(id, 1)));
    await waitFor(() => ids.every((id) => seen.get(id) === 1) || undefined, 10_000, 'a live event on each of the 100 accounts');

    await gateway.stop('SIGTERM');
    await waitFor(() => client.connection.state !== 'live' || undefined, 5000, 'the client to notice');
    await Promise.all(ids.map((id) => newOn(id, 2))); // missed while the gateway is down: replayed with since
    gateway = await AppProcess.start('gateway', env());
    await waitFor(() => client.connection.state === 'live' || undefined, 15_000, 'the client back live');
    await Promise.all(ids.map((id) => newOn(id, 3))); // live after the reconnect
    await waitFor(() => ids.every((id) => seen.get(id) === 3) || undefined, 15_000, 'the missed and the live event on each of the 100 accounts');
    expect(errors).toEqual([]);
  });

  it('an account added and removed elsewhere: account.changed for both, and the removed one is no longer asked for after a reconnect', async () => {
    const client = await newClient('u-gone');
    const changes: AccountChangedEvent[] = [];
    const errors: string[] = [];
    client.on(ServerEvent.AccountChanged, (e) => changes.push(e));
    client.on('subscription.error', (acc, err) => errors.push(`${acc}: ${err.code}`));
    await client.connect();
    const server = { host: '127.0.0.1', port: 143, secure: false, user: 'gone', pass: 'secret-gone' };
    const [kept, gone] = [await stores.accounts.create({ userId: 'u-gone', email: 'kept@example.test', imap: server, smtp: server, mailboxes: ['INBOX'] }), await stores.accounts.create({ userId: 'u-gone', email: 'gone@example.test', imap: server, smtp: server, mailboxes: ['INBOX'] })];
    await waitFor(() => changes.length === 2 || undefined, 5000, 'account.changed for both new accounts');
    expect(changes.map((c) => [c.accountId, c.change])).toEqual([
      [kept.id, 'created'],
      [gone.id, 'created'],
    ]);
    await client.subscribe(kept.id);
    await client.subscribe(gone.id);

    await stores.accounts.delete(gone.id);
    await waitFor(() => changes.length === 3 || undefined, 5000, 'account.changed deleted');
    expect(changes[2]).toEqual({ accountId: gone.id, change: 'deleted' });
    expect(client.subscribedAccounts()).toEqual([kept.id]);

    // Before account.changed, the reconnect subscribed the deleted account again: a forbidden subscription.error.
    await gateway.stop('SIGTERM');
    await waitFor(() => client.connection.state !== 'live' || undefined, 5000, 'the client to notice');
    gateway = await AppProcess.start('gateway', env());
    await waitFor(() => client.connection.state === 'live' || undefined, 15_000, 'the client back live');
    await append(); // on u1's account: a round trip through the new gateway before looking at the errors
    await client.subscribe(kept.id);
    expect(errors).toEqual([]);
  });

  it('a refused token rejects connect() with unauthorized and goes offline', async () => {
    const client = new PushmailClient({ url: gateway.url, token: 'not-a-token', socketOptions: { transports: ['websocket'] } });
    clients.push(client);
    await expect(client.connect()).rejects.toMatchObject({ code: 'unauthorized' });
    expect(client.connection).toEqual({ state: 'offline', error: 'unauthorized' });
  });

  it("another user's account is forbidden, and the user API lists only one's own", async () => {
    const client = await newClient('u2');
    await client.connect();
    await expect(client.subscribe(accountId)).rejects.toMatchObject({ code: 'forbidden' });
    await expect(client.flag({ accountId, mailbox: 'INBOX', uid: 1, add: ['\\Seen'] })).rejects.toMatchObject({ code: 'forbidden' });
    expect(await new PushmailHttpApi(gateway.url, await token('u2')).listAccounts()).toEqual([]);
    expect((await new PushmailHttpApi(gateway.url, await token('u1')).listAccounts()).map((a) => a.id)).toEqual([accountId]);
  });

  it('gets signed part links, absolute, over the socket and over HTTP; not for another user', async () => {
    const client = await newClient();
    await client.connect();
    const prefix = `${new URL(partPath(accountId, 'INBOX', 3, '2'), gateway.url).href}?exp=`;
    const viaSocket = await client.partLink({ accountId, mailbox: 'INBOX', uid: 3, partId: '2' });
    expect(viaSocket.url.startsWith(prefix)).toBe(true);
    expect(Date.parse(viaSocket.expiresAt)).toBeGreaterThan(Date.now());
    const viaHttp = await new PushmailHttpApi(gateway.url, await token('u1')).partLink(accountId, 'INBOX', 3, '2');
    expect(viaHttp.url.startsWith(prefix)).toBe(true);

    const other = await newClient('u2');
    await other.connect();
    await expect(other.partLink({ accountId, mailbox: 'INBOX', uid: 3, partId: '2' })).rejects.toMatchObject({ code: 'forbidden' });
    await expect(new PushmailHttpApi(gateway.url, await token('u2')).partLink(accountId, 'INBOX', 3, '2')).rejects.toMatchObject({ status: 404 });
  });
});
