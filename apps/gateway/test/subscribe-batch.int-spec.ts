import { INestApplication } from '@nestjs/common';
import { ServerEvent } from '@pushmail/contracts';
import { TestRedis, testStores, waitFor } from '@pushmail/testing';
import { ClientSocket, call, connect, newMessage, okAck, record, startGateway, tokenFor } from './helpers';

const APPEND = { ttlSeconds: 3600, maxLen: 10_000 };

jest.setTimeout(30_000);

/** Batch `subscribe` ({ accounts: [...] }) on an in-process gateway over a real Redis. */
describe('gateway batch subscribe', () => {
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let app: INestApplication;
  let url: string;
  const sockets: ClientSocket[] = [];
  const open = async (user = 'u1') => {
    const s = await connect(url, await tokenFor(user));
    sockets.push(s);
    return s;
  };
  let uid = 0;
  const append = (acc: string) => stores.eventLog.append(acc, ServerEvent.MessageNew, newMessage(acc, ++uid), { ...APPEND, dedupeKey: `n-${uid}` });
  let accounts = 0;
  const newAccount = async (userId = 'u1') => {
    const imap = { host: '127.0.0.1', port: 143, secure: false, user: `user${++accounts}`, pass: 'imap-pass-alice' };
    return (await stores.accounts.create({ userId, email: `own${accounts}@example.test`, imap, smtp: imap, mailboxes: ['INBOX'] })).id;
  };

  beforeAll(async () => {
    redis = await TestRedis.start();
    stores = testStores(redis.url);
    // A small burst, so "one command however many accounts" is what lets the batch through.
    ({ app, url } = await startGateway(redis.url, { SOCKET_EVENTS_BURST: '5', SOCKET_EVENTS_PER_SECOND: '1' }));
  });
  afterEach(() => sockets.splice(0).forEach((s) => s.close()));
  afterAll(async () => {
    await app?.close();
    await stores?.close();
    await redis?.dispose();
  });

  it('subscribes 60 accounts in one command, answering each in order, with replay and live events for all', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) ids.push(await newAccount());
    const before = await append(ids[3]);
    const socket = await open();
    const seen = record(socket);
    const ack = okAck(await call(socket, 'subscribe', { accounts: ids.map((accountId) => (accountId === ids[3] ? { accountId, since: '0-0' } : { accountId })) }));
    expect('results' in ack && ack.results).toEqual(ids.map((accountId) => ({ accountId, ok: true, replayed: accountId === ids[3] ? 1 : 0 })));
    expect(seen.map((e) => e.payload.eventId)).toEqual([before.eventId]);
    const live = await Promise.all(ids.map((id) => append(id)));
    await waitFor(() => seen.length === 61 || undefined, 10_000, 'a live event for each of the 60 accounts');
    expect(new Set(seen.slice(1).map((e) => e.payload.eventId))).toEqual(new Set(live.map((l) => l.eventId)));
  });

  it("answers another user's account forbidden in its own entry and subscribes the rest", async () => {
    const mine = await newAccount('u1');
    const theirs = await newAccount('u2');
    const socket = await open('u1');
    const seen = record(socket);
    const ack = okAck(await call(socket, 'subscribe', { accounts: [{ accountId: theirs }, { accountId: mine }, { accountId: 'no-such-account' }] }));
    expect('results' in ack && ack.results).toEqual([
      { accountId: theirs, ok: false, error: { code: 'forbidden', message: expect.any(String) } },
      { accountId: mine, ok: true, replayed: 0 },
      { accountId: 'no-such-account', ok: false, error: { code: 'forbidden', message: expect.any(String) } },
    ]);
    await append(theirs);
    const { eventId } = await append(mine);
    await waitFor(() => seen.find((e) => e.payload.eventId === eventId), 5000, 'the event of the own account');
    expect(seen.map((e) => e.payload.accountId)).toEqual([mine]);
  });

  it('keeps the single form and its ack', async () => {
    const socket = await open();
    expect(await call(socket, 'subscribe', { accountId: await newAccount() })).toEqual({ ok: true, replayed: 0 });
  });

  it('refuses a batch of 501, an empty batch and a since longer than 40 characters with bad_request naming the field', async () => {
    const socket = await open();
    const many = Array.from({ length: 501 }, (_, i) => ({ accountId: `acc${i}` }));
    expect(await call(socket, 'subscribe', { accounts: many })).toEqual({ ok: false, error: { code: 'bad_request', message: expect.stringMatching(/^accounts: .*500/) } });
    expect(await call(socket, 'subscribe', { accounts: [] })).toEqual({ ok: false, error: { code: 'bad_request', message: expect.stringMatching(/^accounts: /) } });
    const longSince = `${'1'.repeat(30)}-${'1'.repeat(10)}`;
    expect(longSince.length).toBe(41);
    expect(await call(socket, 'subscribe', { accountId: 'a1', since: longSince })).toEqual({ ok: false, error: { code: 'bad_request', message: expect.stringMatching(/^since: .*40/) } });
    expect(await call(socket, 'subscribe', { accounts: [{ accountId: 'a1', since: longSince }] })).toEqual({
      ok: false,
      error: { code: 'bad_request', message: expect.stringMatching(/^accounts\.0\.since: .*40/) },
    });
  });
});
