import { INestApplication } from '@nestjs/common';
import { MessageNewEvent, redisKeys } from '@pushmail/contracts';
import { AppProcess, TestDovecot, TestRedis, testEnv, testStores } from '@pushmail/testing';
import { ClientSocket, call, connect, newMessage, okAck, startGateway, tokenFor } from './helpers';

/**
 * message.get and message.flag travel to the fetcher (the built app) through the command queue,
 * and run against the real Dovecot.
 */
jest.setTimeout(30_000);

describe('gateway IMAP commands', () => {
  let redis: TestRedis;
  let dovecot: TestDovecot;
  let stores: ReturnType<typeof testStores>;
  let app: INestApplication;
  let url: string;
  let accountId: string;
  let fetcher: AppProcess;
  let uid: number;
  const sockets: ClientSocket[] = [];
  const open = async (user = 'u1') => {
    const s = await connect(url, await tokenFor(user));
    sockets.push(s);
    return s;
  };

  beforeAll(async () => {
    redis = await TestRedis.start();
    dovecot = await TestDovecot.start({ users: { 'alice@example.test': 'imap-pass-alice' } });
    stores = testStores(redis.url);
    ({ app, url } = await startGateway(redis.url));
    fetcher = await AppProcess.start('fetcher', testEnv(redis.url, { MISSING_MESSAGE_RETRY_MS: '20' }));
    const imap = dovecot.imapSettings('alice@example.test');
    accountId = (await stores.accounts.create({ userId: 'u1', email: 'alice@example.test', imap, smtp: imap, mailboxes: ['INBOX'] })).id;
    await dovecot.deliver('alice@example.test', { subject: 'fetch me', messageId: '<fetch-me@example.test>' });
    uid = 1;
  });
  afterEach(() => sockets.splice(0).forEach((s) => s.close()));
  afterAll(async () => {
    await fetcher?.stop();
    await app?.close();
    await stores?.close();
    await dovecot?.dispose();
    await redis?.dispose();
  });

  it('message.get fetches through the command queue when the message is not stored', async () => {
    const socket = await open();
    const ack = okAck(await call(socket, 'message.get', { accountId, mailbox: 'INBOX', uid }));
    expect(ack.message).toMatchObject({ accountId, mailbox: 'INBOX', uid, subject: 'fetch me', messageId: '<fetch-me@example.test>' });
  });

  it('message.get serves the stored message when the fetcher has it', async () => {
    await stores.redis.client.hset(redisKeys.cursor(accountId, 'INBOX'), 'uidValidity', 42);
    const stored: MessageNewEvent = { ...newMessage(accountId, 99, { uidValidity: 42, subject: 'from the store' }), eventId: '5-0' };
    await stores.redis.client.set(redisKeys.message(accountId, 'INBOX', 42, 99), JSON.stringify(stored));
    const socket = await open();
    expect(okAck(await call(socket, 'message.get', { accountId, mailbox: 'INBOX', uid: 99 })).message).toEqual(stored);
  });

  it('message.get of a large message leaves its body in no BullMQ key, events stream or command result', async () => {
    const marker = 'BODYMARK' + Date.now();
    await dovecot.deliver('alice@example.test', { subject: 'large', messageId: '<large@example.test>', text: `${marker} `.repeat(30_000) });
    const client = await dovecot.imap('alice@example.test');
    const largeUid = (await client.mailboxOpen('INBOX')).uidNext - 1;
    await client.logout();
    const socket = await open();
    const ack = okAck(await call(socket, 'message.get', { accountId, mailbox: 'INBOX', uid: largeUid }));
    expect((ack.message as { text: string }).text).toContain(marker);

    const r = stores.redis.client;
    const holders: string[] = [];
    for (const key of await r.keys('*')) {
      // The message store is where the fetcher keeps messages on purpose (bounded by its TTL).
      if (key.startsWith('pm:msg:')) continue;
      const type = await r.type(key);
      const contents =
        type === 'string' ? [await r.get(key)]
        : type === 'hash' ? Object.values(await r.hgetall(key))
        : type === 'list' ? await r.lrange(key, 0, -1)
        : type === 'zset' || type === 'set' ? (type === 'set' ? await r.smembers(key) : await r.zrange(key, 0, -1))
        : type === 'stream' ? (await r.xrange(key, '-', '+')).flatMap(([, fields]) => fields)
        : [];
      if (contents.some((c) => c?.includes(marker))) holders.push(key);
    }
    expect(holders).toEqual([]);
    expect(await r.keys('pm:cmd-result:*')).toEqual([]);
    expect((await r.keys('{pm-bull}:imap-commands:*')).length).toBeGreaterThan(0); // the scan did see the queue
  });

  it('message.get of a missing message answers not_found', async () => {
    const socket = await open();
    expect(await call(socket, 'message.get', { accountId, mailbox: 'INBOX', uid: 12345 })).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it('message.flag acks once the IMAP server stored the flag', async () => {
    const socket = await open();
    const ack = okAck(await call(socket, 'message.flag', { accountId, mailbox: 'INBOX', uid, add: ['\\Seen', '\\Flagged'] }));
    expect(ack).toMatchObject({ ok: true });
    const client = await dovecot.imap('alice@example.test');
    await client.mailboxOpen('INBOX');
    const msg = await client.fetchOne(String(uid), { flags: true }, { uid: true });
    await client.logout();
    expect([...((msg && msg.flags) || [])]).toEqual(expect.arrayContaining(['\\Seen', '\\Flagged']));
    okAck(await call(socket, 'message.flag', { accountId, mailbox: 'INBOX', uid, remove: ['\\Flagged'] }));
  });

  it("answers forbidden for another user's account, before anything reaches IMAP", async () => {
    const socket = await open('u2');
    expect(await call(socket, 'message.get', { accountId, mailbox: 'INBOX', uid })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await call(socket, 'message.flag', { accountId, mailbox: 'INBOX', uid, add: ['\\Deleted'] })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
  });

  it('refuses a malformed flag with bad_request', async () => {
    const socket = await open();
    expect(await call(socket, 'message.flag', { accountId, mailbox: 'INBOX', uid, add: ['bad flag)'] })).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringContaining('add.0') } });
  });
});
