import { INestApplication } from '@nestjs/common';
import { ServerEvent } from '@pushmail/contracts';
import { TestRedis, testStores, waitFor } from '@pushmail/testing';
import { SignJWT } from 'jose';
import { ClientSocket, JWT_SECRET, call, connect, newMessage, record, startGateway, tokenFor } from './helpers';

const APPEND = { ttlSeconds: 3600, maxLen: 10_000 };

jest.setTimeout(30_000);

describe('gateway push: auth, live events, replay', () => {
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let app: INestApplication;
  let url: string;
  let accountId: string;
  const sockets: ClientSocket[] = [];
  const open = async (user = 'u1') => {
    const s = await connect(url, await tokenFor(user));
    sockets.push(s);
    return s;
  };
  let uid = 0;
  const append = (acc = accountId, maxLen = APPEND.maxLen) =>
    stores.eventLog.append(acc, ServerEvent.MessageNew, newMessage(acc, ++uid), { ...APPEND, maxLen, dedupeKey: `n-${uid}` });
  let accounts = 0;
  /** An account of the test's own, so no test depends on what another appended before it. */
  const ownAccount = async (userId = 'u1') => {
    const imap = { host: '127.0.0.1', port: 143, secure: false, user: `user${++accounts}`, pass: 'imap-pass-alice' };
    return (await stores.accounts.create({ userId, email: `own${accounts}@example.test`, imap, smtp: imap, mailboxes: ['INBOX'] })).id;
  };
  /**
   * Appends a sentinel to `sentinelAccount` (which `socket` is subscribed to) and waits for it: the
   * gateway relays the events channel in order, so once the sentinel is in, anything appended
   * before it that was going to arrive has arrived. Replaces "sleep, then expect nothing".
   */
  const sentinel = async (seen: ReturnType<typeof record>, sentinelAccount: string): Promise<string> => {
    const { eventId } = await append(sentinelAccount);
    await waitFor(() => seen.find((e) => e.payload.eventId === eventId), 5000, 'the sentinel event');
    return eventId;
  };

  beforeAll(async () => {
    redis = await TestRedis.start();
    stores = testStores(redis.url);
    ({ app, url } = await startGateway(redis.url));
    const imap = { host: '127.0.0.1', port: 143, secure: false, user: 'alice', pass: 'imap-pass-alice' };
    accountId = (await stores.accounts.create({ userId: 'u1', email: 'alice@example.test', imap, smtp: imap, mailboxes: ['INBOX'] })).id;
  });
  afterEach(() => sockets.splice(0).forEach((s) => s.close()));
  afterAll(async () => {
    await app?.close();
    await stores?.close();
    await redis?.dispose();
  });

  it('refuses a missing, invalid or expired token with connect_error "unauthorized"', async () => {
    await expect(connect(url, undefined)).rejects.toThrow('unauthorized');
    await expect(connect(url, 'garbage')).rejects.toThrow('unauthorized');
    const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').setExpirationTime(Math.floor(Date.now() / 1000) - 5).sign(new TextEncoder().encode(JWT_SECRET));
    await expect(connect(url, expired)).rejects.toThrow('unauthorized');
    const otherKey = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').sign(new TextEncoder().encode('some-other-secret-0123456789'));
    await expect(connect(url, otherKey)).rejects.toThrow('unauthorized');
  });

  it('closes a connection when its token expires', async () => {
    // 2 s: long enough to be verified at connect even on a loaded machine, short enough to wait out.
    const socket = await connect(url, await tokenFor('u1', 2));
    sockets.push(socket);
    expect(socket.connected).toBe(true);
    await waitFor(() => !socket.connected, 8000, 'socket closed at exp');
  });

  it('pushes a logged event as message.new with the contract fields', async () => {
    const accountId = await ownAccount();
    const socket = await open();
    const seen = record(socket);
    expect(await call(socket, 'subscribe', { accountId })).toEqual({ ok: true, replayed: 0 });
    const { eventId } = await append(accountId);
    await waitFor(() => seen.find((e) => e.name === ServerEvent.MessageNew), 5000, 'message.new');
    const event = seen.find((e) => e.name === ServerEvent.MessageNew)!.payload;
    expect(event).toMatchObject({ eventId, accountId, mailbox: 'INBOX', uid, uidValidity: 1, messageId: `<m${uid}@example.test>`, subject: `message ${uid}`, flags: [], attachments: [] });
    for (const field of ['from', 'to', 'cc', 'date', 'receivedAt', 'size', 'preview', 'text', 'html']) expect(event).toHaveProperty(field);
  });

  it('answers subscribe to a foreign or unknown account with forbidden, alike', async () => {
    const [foreignAccount, u2Account] = [await ownAccount('u1'), await ownAccount('u2')];
    const socket = await open('u2');
    const foreign = await call(socket, 'subscribe', { accountId: foreignAccount });
    const unknown = await call(socket, 'subscribe', { accountId: 'acc_doesnotexist' });
    expect(foreign).toEqual({ ok: false, error: { code: 'forbidden', message: expect.any(String) } });
    expect(unknown).toEqual(foreign);
    const seen = record(socket);
    await call(socket, 'subscribe', { accountId: u2Account });
    await append(foreignAccount);
    const last = await sentinel(seen, u2Account);
    expect(seen.map((e) => e.payload.eventId)).toEqual([last]);
  });

  it('answers bad input with bad_request naming the field', async () => {
    const socket = await open();
    const ack = await call(socket, 'subscribe', { accountId, since: 'yesterday' });
    expect(ack).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringContaining('since') } });
    expect(await call(socket, 'subscribe', 'nonsense')).toMatchObject({ ok: false, error: { code: 'bad_request' } });
  });

  it('replays exactly the events missed while disconnected, in order, then continues live', async () => {
    const accountId = await ownAccount();
    const first = await open();
    const seen = record(first);
    await call(first, 'subscribe', { accountId });
    const { eventId: lastSeen } = await append(accountId);
    await waitFor(() => seen.length === 1, 5000, 'first event');
    first.close();

    const missed: string[] = [];
    for (let i = 0; i < 20; i++) missed.push((await append(accountId)).eventId);

    const again = await open();
    const replay = record(again);
    expect(await call(again, 'subscribe', { accountId, since: lastSeen })).toEqual({ ok: true, replayed: 20 });
    const live = (await append(accountId)).eventId;
    const last = await sentinel(replay, accountId);
    expect(replay.map((e) => e.payload.eventId)).toEqual([...missed, live, last]);
    expect(replay.every((e) => e.name === ServerEvent.MessageNew)).toBe(true);
  });

  it('has no gap and no duplicate at the replay/live seam while events keep coming', async () => {
    const accountId = await ownAccount();
    const since = (await append(accountId)).eventId;
    // The ids the test itself got back from each append, in order: the expectation owes nothing to
    // the replay code (readAfter) under test.
    const appended: string[] = [];
    for (let i = 0; i < 600; i++) appended.push((await append(accountId)).eventId); // more than one replay page
    const beforeSubscribe = appended.length;
    const socket = await open();
    const seen = record(socket);
    let appending = true;
    const writer = (async () => {
      while (appending) appended.push((await append(accountId)).eventId);
    })();
    const ack = await call(socket, 'subscribe', { accountId, since });
    // Keep appending until some events came live after the replay, so the seam is crossed.
    await waitFor(() => appended.length > beforeSubscribe + 20 && seen.length > 600, 10_000, 'live events after the replay');
    appending = false;
    await writer;
    const last = await sentinel(seen, accountId);
    expect(ack).toMatchObject({ ok: true });
    expect(seen.map((e) => e.payload.eventId)).toEqual([...appended, last]);
  });

  it('sends mailbox.reset first when since is older than the capped log holds', async () => {
    const capped = (await stores.accounts.create({ userId: 'u1', email: 'capped@example.test', imap: { host: 'h', port: 1, secure: false, user: 'x', pass: 'imap-pass-capped' }, smtp: { host: 'h', port: 1, secure: false, user: 'x', pass: 'y' }, mailboxes: ['INBOX', 'Archive'] })).id;
    await stores.redis.client.hset(`pm:cursor:{${capped}}:INBOX`, 'uidValidity', '77');
    const { eventId: old } = await append(capped, 5);
    for (let i = 0; i < 300; i++) await append(capped, 5);
    expect(await stores.eventLog.isTrimmedPast(capped, old)).toBe(true);
    const socket = await open();
    const seen = record(socket);
    const ack = await call(socket, 'subscribe', { accountId: capped, since: old });
    const held = (await stores.eventLog.readAfter(capped, '0-0', 10_000)).map((e) => e.payload.eventId);
    await waitFor(() => seen.length >= held.length + 2, 5000, 'resets and held events');
    expect(seen.slice(0, 2).map((e) => [e.name, e.payload.mailbox, e.payload.uidValidity])).toEqual([
      [ServerEvent.MailboxReset, 'INBOX', 77],
      [ServerEvent.MailboxReset, 'Archive', 0],
    ]);
    expect(seen.slice(2).map((e) => e.payload.eventId)).toEqual(held);
    expect(ack).toEqual({ ok: true, replayed: held.length + 2 });
  });

  it('catches up from the log when its events-channel connection was cut (events published meanwhile are not lost)', async () => {
    const accountId = await ownAccount();
    const socket = await open();
    const seen = record(socket);
    await call(socket, 'subscribe', { accountId });
    const admin = redis.client();
    await admin.client('KILL', 'TYPE', 'pubsub');
    const missed: string[] = [];
    for (let i = 0; i < 3; i++) missed.push((await append(accountId)).eventId); // published while nobody listens
    admin.disconnect();
    await waitFor(() => seen.length >= 3, 10_000, 'the missed events after the reconnect');
    const last = await sentinel(seen, accountId);
    expect(seen.map((e) => e.payload.eventId)).toEqual([...missed, last]);
  });

  it('relays account.state to the account subscribers without an eventId', async () => {
    const accountId = await ownAccount();
    const socket = await open();
    const seen = record(socket);
    await call(socket, 'subscribe', { accountId });
    await stores.accounts.setState(accountId, 'auth_failed', 'wrong password');
    await waitFor(() => seen.find((e) => e.name === ServerEvent.AccountState), 5000, 'account.state');
    const first = seen.find((e) => e.name === ServerEvent.AccountState)!.payload as { stateVersion: number };
    expect(first).toEqual({ accountId, state: 'auth_failed', error: 'wrong password', stateVersion: expect.any(Number) });
    // The view carries the same counter, so a client can tell which of the two is newer.
    expect((await stores.accounts.view(accountId))?.stateVersion).toBe(first.stateVersion);
    await stores.accounts.setState(accountId, 'connected');
    await waitFor(() => seen.filter((e) => e.name === ServerEvent.AccountState).length === 2, 5000, 'the second account.state');
    expect(seen.filter((e) => e.name === ServerEvent.AccountState)[1].payload).toEqual({ accountId, state: 'connected', stateVersion: first.stateVersion + 1 });
  });

  it('stops pushing after unsubscribe', async () => {
    const [accountId, other] = [await ownAccount(), await ownAccount()];
    const socket = await open();
    const seen = record(socket);
    await call(socket, 'subscribe', { accountId });
    await call(socket, 'subscribe', { accountId: other });
    expect(await call(socket, 'unsubscribe', { accountId })).toEqual({ ok: true });
    await append(accountId);
    const last = await sentinel(seen, other);
    expect(seen.map((e) => e.payload.eventId)).toEqual([last]);
  });

  it('rate-limits a socket that floods commands', async () => {
    const socket = await open();
    const acks = await Promise.all(Array.from({ length: 60 }, () => call(socket, 'unsubscribe', { accountId })));
    expect(acks.filter((a) => !a.ok && a.error.code === 'rate_limited').length).toBeGreaterThan(0);
  });
});
