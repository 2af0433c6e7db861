import { INestApplication } from '@nestjs/common';
import { redisKeys } from '@pushmail/contracts';
import { SmtpSink, TestDovecot, TestRedis, testStores, waitFor } from '@pushmail/testing';
import { ClientSocket, call, connect, okAck, record, startGateway, tokenFor, ServerEvent } from './helpers';

/**
 * The per-user send byte budget (SEND_QUEUE_BYTES_PER_USER) against a real Redis and an SMTP sink
 * that answers 451, so sends stay queued while they are retried: the budget fills, the next send
 * is `rate_limited`, and it is free again once the queued sends end, sent or finally failed.
 */
jest.setTimeout(60_000);

const BUDGET = 6_000;
const body = 'x'.repeat(2_500); // ~2.6 KB stored per send: two fit, a third does not

describe('gateway send byte budget', () => {
  let redis: TestRedis;
  let dovecot: TestDovecot;
  let sink: SmtpSink;
  let accept = false;
  let stores: ReturnType<typeof testStores>;
  let app: INestApplication;
  let url: string;
  let accountId: string;
  const sockets: ClientSocket[] = [];
  const open = async (user: string) => {
    const s = await connect(url, await tokenFor(user));
    sockets.push(s);
    return s;
  };
  const send = (socket: ClientSocket, key: string) =>
    call(socket, 'message.send', { accountId, idempotencyKey: key, to: [{ address: 'bob@example.test' }], subject: key, text: body });
  const heldBytes = async (userId: string) =>
    (await stores.redis.client.hvals(redisKeys.sendBytes(userId))).reduce((sum, v) => sum + Number(v.split(':')[0]), 0);

  beforeAll(async () => {
    redis = await TestRedis.start();
    dovecot = await TestDovecot.start({ users: { 'alice@example.test': 'imap-pass-alice' } });
    sink = await SmtpSink.start({
      auth: { user: 'sender', pass: 'smtp-pass-alice' },
      respond: () => (accept ? undefined : { code: 451, message: 'try again later' }),
    });
    stores = testStores(redis.url);
    ({ app, url } = await startGateway(redis.url, { SEND_QUEUE_BYTES_PER_USER: String(BUDGET), SEND_ATTEMPTS: '3', SEND_RETRY_DELAY_MS: '400' }));
    const imap = dovecot.imapSettings('alice@example.test');
    accountId = (await stores.accounts.create({ userId: 'u1', email: 'alice@example.test', imap, smtp: sink.settings('sender', 'smtp-pass-alice'), mailboxes: ['INBOX'] })).id;
  });
  beforeEach(() => {
    accept = false;
  });
  afterEach(() => sockets.splice(0).forEach((s) => s.close()));
  afterAll(async () => {
    await app?.close();
    await stores?.close();
    await sink?.stop();
    await dovecot?.dispose();
    await redis?.dispose();
  });

  it('accepts sends up to the budget, refuses the next, and frees the budget once they failed finally', async () => {
    const socket = await open('u1');
    const seen = record(socket);
    okAck(await call(socket, 'subscribe', { accountId }));
    const first = okAck(await send(socket, 'fail-1'));
    const second = okAck(await send(socket, 'fail-2'));
    expect(await heldBytes('u1')).toBeGreaterThan(5_000);

    const third = await send(socket, 'fail-3');
    expect(third).toEqual({ ok: false, error: { code: 'rate_limited', message: expect.stringMatching(/send queue is full/) } });
    // A repeat of an accepted send is not a new send: it answers with its sendId.
    expect(okAck(await send(socket, 'fail-1')).sendId).toBe(first.sendId);

    // Three attempts 400 + 800 ms apart, all 451: both end in message.send_failed.
    for (const { sendId } of [first, second]) {
      await waitFor(() => seen.find((e) => e.name === ServerEvent.MessageSendFailed && e.payload.sendId === sendId), 20_000, `send_failed for ${sendId}`);
    }
    await waitFor(async () => (await heldBytes('u1')) === 0 || undefined, 5_000, 'the budget released');
    for (const { sendId } of [first, second]) {
      expect(await stores.redis.client.hget(redisKeys.send(sendId), 'request')).toBe('{}');
    }
    okAck(await send(socket, 'fail-4'));
  });

  it('frees the budget once the queued sends went out and were copied to Sent', async () => {
    const socket = await open('u1');
    const seen = record(socket);
    okAck(await call(socket, 'subscribe', { accountId }));
    await waitFor(async () => (await heldBytes('u1')) === 0 || undefined, 20_000, 'the previous test’s send finished');
    const first = okAck(await send(socket, 'ok-1'));
    const second = okAck(await send(socket, 'ok-2'));
    expect((await send(socket, 'ok-3')).ok).toBe(false);

    accept = true; // the next retry goes through
    for (const { sendId } of [first, second]) {
      await waitFor(() => seen.find((e) => e.name === ServerEvent.MessageSent && e.payload.sendId === sendId), 20_000, `message.sent for ${sendId}`);
    }
    // Done (copied to Sent) drops the stored message and its share of the budget.
    await waitFor(async () => (await heldBytes('u1')) === 0 || undefined, 10_000, 'the budget released');
    for (const { sendId } of [first, second]) expect(await stores.redis.client.hget(redisKeys.send(sendId), 'status')).toBe('done');
    okAck(await send(socket, 'ok-3'));
  });
});
