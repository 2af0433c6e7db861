import { INestApplication } from '@nestjs/common';
import { ServerEvent } from '@pushmail/contracts';
import { SmtpSink, TestDovecot, TestRedis, testStores, waitFor } from '@pushmail/testing';
import { ClientSocket, call, connect, okAck, record, startGateway, tokenFor } from './helpers';

/**
 * Issue 14: an account sends only as itself. The envelope sender and the header From are the
 * account's own address, whatever the request says, and a server without AUTH gets nothing.
 */
jest.setTimeout(30_000);

describe('message.send: the sender is always the account', () => {
  let redis: TestRedis;
  let dovecot: TestDovecot;
  let sink: SmtpSink;
  let stores: ReturnType<typeof testStores>;
  let app: INestApplication;
  let url: string;
  let accountId: string;
  const sockets: ClientSocket[] = [];
  const base = { to: [{ name: 'Bob', address: 'bob@example.test' }], text: 'hello' };

  beforeAll(async () => {
    redis = await TestRedis.start();
    dovecot = await TestDovecot.start({ users: { 'alice@example.test': 'imap-pass-from' } });
    sink = await SmtpSink.start({ auth: { user: 'sender', pass: 'smtp-pass-from' } });
    stores = testStores(redis.url);
    ({ app, url } = await startGateway(redis.url));
    const imap = dovecot.imapSettings('alice@example.test');
    accountId = (await stores.accounts.create({ userId: 'u-from', email: 'alice@example.test', imap, smtp: sink.settings('sender', 'smtp-pass-from'), mailboxes: ['INBOX'] })).id;
  });
  afterAll(async () => {
    sockets.forEach((s) => s.close());
    await app?.close();
    await stores?.close();
    await sink?.stop();
    await dovecot?.dispose();
    await redis?.dispose();
  });

  it('refuses a request that names its own From, Sender or headers', async () => {
    const socket = await connect(url, await tokenFor('u-from'));
    sockets.push(socket);
    for (const extra of [{ from: { address: 'ceo@example.test' } }, { sender: 'ceo@example.test' }, { headers: { From: 'ceo@example.test' } }]) {
      const ack = await call(socket, 'message.send', { ...base, ...extra, accountId, idempotencyKey: `from-${Object.keys(extra)[0]}`, subject: 'spoof' });
      expect(ack).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    }
    expect(sink.received.some((m) => m.raw.includes('Subject: spoof'))).toBe(false);
  });

  it('sends with the account address as envelope sender and header From', async () => {
    const socket = await connect(url, await tokenFor('u-from'));
    sockets.push(socket);
    const seen = record(socket);
    await call(socket, 'subscribe', { accountId });
    okAck(await call(socket, 'message.send', { ...base, accountId, idempotencyKey: 'from-ok', subject: 'as myself' }));
    await waitFor(() => seen.find((e) => e.name === ServerEvent.MessageSent), 10_000, 'message.sent');
    const mail = sink.received.find((m) => m.raw.includes('Subject: as myself'));
    expect(mail?.from).toBe('alice@example.test');
    expect(mail?.user).toBe('sender');
    expect(mail?.raw).toMatch(/^From: alice@example\.test\r?$/m);
  });
});
