import { INestApplication } from '@nestjs/common';
import { BULL_PREFIX, MessageNewEvent, QueueName, SendJobName, ServerEvent, jobIds, redisKeys } from '@pushmail/contracts';
import { Job, Queue } from 'bullmq';
import IORedis from 'ioredis';
import { SmtpSink, TestDovecot, TestRedis, testStores, waitFor } from '@pushmail/testing';
import { AddressInfo, Socket, createConnection, createServer } from 'node:net';
import { ClientSocket, call, connect, newMessage, okAck, record, startGateway, tokenFor } from './helpers';

/**
 * Sending over real SMTP sinks and a real Dovecot (for the Sent copy): threading headers,
 * idempotency, permanent and transient SMTP failures, header injection, limits and ownership.
 */
jest.setTimeout(30_000);

describe('gateway sending', () => {
  let redis: TestRedis;
  let dovecot: TestDovecot;
  let sink: SmtpSink;
  let sink550: SmtpSink;
  let sink451: SmtpSink;
  let stores: ReturnType<typeof testStores>;
  let app: INestApplication;
  let url: string;
  let accountId: string;
  let account550: string;
  let account451: string;
  let sendQueue: Queue;
  let queueConnection: IORedis;
  const sockets: ClientSocket[] = [];
  const open = async (user = 'u1') => {
    const s = await connect(url, await tokenFor(user));
    sockets.push(s);
    return s;
  };
  const base = { to: [{ name: 'Bob', address: 'bob@example.test' }], text: 'hello there' };

  beforeAll(async () => {
    redis = await TestRedis.start();
    dovecot = await TestDovecot.start({ users: { 'alice@example.test': 'imap-pass-alice' } });
    sink = await SmtpSink.start({ auth: { user: 'sender', pass: 'smtp-pass-alice' } });
    sink550 = await SmtpSink.start({ respond: () => ({ code: 550, message: 'mailbox unavailable' }) });
    sink451 = await SmtpSink.start({ respond: (_mail, attempt) => (attempt === 1 ? { code: 451, message: 'try again later' } : undefined) });
    stores = testStores(redis.url);
    queueConnection = new IORedis(redis.url);
    sendQueue = new Queue(QueueName.Send, { connection: queueConnection, prefix: BULL_PREFIX });
    ({ app, url } = await startGateway(redis.url, { SEND_MAX_BYTES: '200000', SEND_RATE_PER_MINUTE: '10' }));
    const imap = dovecot.imapSettings('alice@example.test');
    const create = (smtp: ReturnType<SmtpSink['settings']>, userId = 'u1') =>
      stores.accounts.create({ userId, email: 'alice@example.test', imap, smtp, mailboxes: ['INBOX'] }).then((v) => v.id);
    accountId = await create(sink.settings('sender', 'smtp-pass-alice'));
    account550 = await create(sink550.settings());
    account451 = await create(sink451.settings());
  });
  afterEach(() => sockets.splice(0).forEach((s) => s.close()));
  afterAll(async () => {
    await sendQueue?.close();
    queueConnection?.disconnect();
    await app?.close();
    await stores?.close();
    await Promise.all([sink?.stop(), sink550?.stop(), sink451?.stop()]);
    await dovecot?.dispose();
    await redis?.dispose();
  });

  async function sendJobState(account: string, idempotencyKey: string): Promise<string> {
    return sendQueue.getJobState(jobIds.send(account, idempotencyKey));
  }

  /** Delivers an original and stores it the way the fetcher does, so a reply can thread on it. */
  async function storedOriginal(subject: string): Promise<{ uid: number; messageId: string }> {
    const messageId = `<orig-${Date.now()}@example.test>`;
    await dovecot.deliver('alice@example.test', { subject, messageId, headers: { References: '<root@example.test>' } });
    const client = await dovecot.imap('alice@example.test');
    const mailbox = await client.mailboxOpen('INBOX');
    const uid = mailbox.uidNext - 1;
    await client.logout();
    const uidValidity = Number(mailbox.uidValidity);
    await stores.redis.client.hset(redisKeys.cursor(accountId, 'INBOX'), 'uidValidity', uidValidity);
    const stored: MessageNewEvent = { ...newMessage(accountId, uid, { uidValidity, subject, messageId, references: ['<root@example.test>'] }), eventId: '1-1' };
    await stores.redis.client.set(redisKeys.message(accountId, 'INBOX', uidValidity, uid), JSON.stringify(stored));
    return { uid, messageId };
  }

  it('sends a threaded reply, tells the account subscribers, and files a \\Seen copy in Sent', async () => {
    const original = await storedOriginal('Lunch');
    const socket = await open();
    const seen = record(socket);
    await call(socket, 'subscribe', { accountId });
    const ack = okAck(await call(socket, 'message.send', { ...base, accountId, idempotencyKey: 'reply-1', subject: 'Lunch', inReplyTo: { mailbox: 'INBOX', uid: original.uid } }));
    expect(ack.sendId).toMatch(/^snd_/);

    const mail = await waitFor(() => sink.received.find((m) => m.raw.includes(original.messageId)), 10_000, 'the reply at the SMTP sink');
    expect(mail.raw).toMatch(new RegExp(`^In-Reply-To: ${original.messageId}\\r?$`, 'm'));
    expect(mail.raw).toMatch(new RegExp(`^References: <root@example.test> ${original.messageId}\\r?$`, 'm'));
    expect(mail.raw).toMatch(/^Subject: Re: Lunch\r?$/m);
    expect(mail.to).toEqual(['bob@example.test']);
    expect(mail.user).toBe('sender');

    const sent = await waitFor(() => seen.find((e) => e.name === ServerEvent.MessageSent), 10_000, 'message.sent');
    expect(sent.payload).toEqual({ sendId: ack.sendId, accountId, messageId: expect.stringMatching(/^<snd_.+@example\.test>$/) });

    const copy = await waitFor(async () => {
      const client = await dovecot.imap('alice@example.test');
      try {
        await client.mailboxOpen('Sent');
        for await (const msg of client.fetch('1:*', { envelope: true, flags: true })) {
          if (msg.envelope?.messageId === sent.payload.messageId) return msg;
        }
        return undefined;
      } finally {
        await client.logout();
      }
    }, 10_000, 'the copy in Sent');
    expect([...(copy.flags ?? [])]).toContain('\\Seen');
    expect(copy.envelope?.inReplyTo).toBe(original.messageId);
  });

  it('sends once for the same idempotencyKey and returns the same sendId', async () => {
    const socket = await open();
    const payload = { ...base, accountId, idempotencyKey: 'idem-1', subject: 'only once' };
    const first = okAck(await call(socket, 'message.send', payload));
    const second = okAck(await call(socket, 'message.send', payload));
    expect(second.sendId).toBe(first.sendId);
    await waitFor(() => sink.received.some((m) => m.raw.includes('Subject: only once')), 10_000, 'the message');
    const third = okAck(await call(socket, 'message.send', payload));
    expect(third.sendId).toBe(first.sendId);
    // A sentinel send after the repeats instead of a sleep: once it is at the sink, a second copy of
    // the first (queued by a repeat) would have been sent too.
    okAck(await call(socket, 'message.send', { ...payload, idempotencyKey: 'idem-1-sentinel', subject: 'after only once' }));
    await waitFor(() => sink.received.some((m) => m.raw.includes('Subject: after only once')), 10_000, 'the sentinel');
    expect(sink.received.filter((m) => m.raw.includes('Subject: only once'))).toHaveLength(1);
  });

  it('fails a send job whose payload breaks the contract at once, naming the field, and goes on sending', async () => {
    // Another process (or version) wrote it: the worker checks it before anything reads it.
    const bad = await sendQueue.add(SendJobName.Send, { accountId } as never, { jobId: 'malformed-send', attempts: 5 });
    const unknown = await sendQueue.add('resend', { accountId, sendId: 'snd_x' }, { jobId: 'unknown-send', attempts: 5 });
    for (const job of [bad, unknown]) await waitFor(async () => (await job.getState()) === 'failed', 10_000, `job ${job.id} to fail`);
    const [badNow, unknownNow] = await Promise.all([Job.fromId(sendQueue, bad.id!), Job.fromId(sendQueue, unknown.id!)]);
    expect(badNow).toMatchObject({ attemptsMade: 1, failedReason: expect.stringMatching(/invalid job payload \(send send\).*sendId/s) });
    expect(unknownNow).toMatchObject({ attemptsMade: 1, failedReason: 'unknown job "resend" on the send queue' });
    // A user of its own, so this send does not count against u1's rate.
    const imap = dovecot.imapSettings('alice@example.test');
    const own = (await stores.accounts.create({ userId: 'u-after-malformed', email: 'alice@example.test', imap, smtp: sink.settings('sender', 'smtp-pass-alice'), mailboxes: ['INBOX'] })).id;
    const socket = await open('u-after-malformed');
    okAck(await call(socket, 'message.send', { ...base, accountId: own, idempotencyKey: 'after-malformed', subject: 'after a malformed job' }));
    await waitFor(() => sink.received.some((m) => m.raw.includes('Subject: after a malformed job')), 10_000, 'the next message');
  });

  it('ends an SMTP 550 in message.send_failed without retrying', async () => {
    const socket = await open();
    const seen = record(socket);
    await call(socket, 'subscribe', { accountId: account550 });
    const { sendId } = okAck(await call(socket, 'message.send', { ...base, accountId: account550, idempotencyKey: 'perm-1', subject: 'will bounce' }));
    const failed = await waitFor(() => seen.find((e) => e.name === ServerEvent.MessageSendFailed), 10_000, 'message.send_failed');
    expect(failed.payload).toEqual({ sendId, accountId: account550, error: { code: 'smtp_550', message: expect.stringContaining('mailbox unavailable') } });
    // The mechanism, not a sleep: the job has ended as failed, so no retry is scheduled.
    await waitFor(async () => (await sendJobState(account550, 'perm-1')) === 'failed', 5000, 'the send job to end failed');
    expect(sink550.attempts).toBe(1);
    expect(seen.some((e) => e.name === ServerEvent.MessageSent)).toBe(false);
  });

  it('retries an SMTP 451 and then succeeds', async () => {
    const socket = await open();
    const seen = record(socket);
    await call(socket, 'subscribe', { accountId: account451 });
    const { sendId } = okAck(await call(socket, 'message.send', { ...base, accountId: account451, idempotencyKey: 'temp-1', subject: 'second time lucky' }));
    const sent = await waitFor(() => seen.find((e) => e.name === ServerEvent.MessageSent), 10_000, 'message.sent');
    expect(sent.payload).toMatchObject({ sendId, accountId: account451 });
    expect(sink451.attempts).toBe(2);
    expect(sink451.received).toHaveLength(1);
    expect(seen.some((e) => e.name === ServerEvent.MessageSendFailed)).toBe(false);
  });

  /** An account of its own user, sending through `smtp`: no other test shares its sends or rate budget. */
  async function ownAccount(userId: string, smtp: ReturnType<SmtpSink['settings']>): Promise<string> {
    const imap = dovecot.imapSettings('alice@example.test');
    return (await stores.accounts.create({ userId, email: 'alice@example.test', imap, smtp, mailboxes: ['INBOX'] })).id;
  }

  it('ends in message.send_failed once every SMTP attempt met a 451', async () => {
    const always451 = await SmtpSink.start({ respond: () => ({ code: 451, message: 'greylisted forever' }) });
    try {
      const own = await ownAccount('u-retry-out', always451.settings());
      const socket = await open('u-retry-out');
      const seen = record(socket);
      await call(socket, 'subscribe', { accountId: own });
      const { sendId } = okAck(await call(socket, 'message.send', { ...base, accountId: own, idempotencyKey: 'exhaust-1', subject: 'never accepted' }));
      const failed = await waitFor(() => seen.find((e) => e.name === ServerEvent.MessageSendFailed), 20_000, 'message.send_failed');
      expect(failed.payload).toEqual({ sendId, accountId: own, error: { code: 'smtp_451', message: expect.stringContaining('greylisted forever') } });
      // SEND_ATTEMPTS (default 6) attempts, each one DATA: not one more, not one fewer.
      expect(always451.attempts).toBe(6);
      expect(seen.some((e) => e.name === ServerEvent.MessageSent)).toBe(false);
    } finally {
      await always451.stop();
    }
  });

  it('retries after the connection drops in the middle of a send, and delivers once', async () => {
    const target = await SmtpSink.start();
    // The first connection is cut right after the client's first command; later ones reach the sink.
    let connections = 0;
    const held: Socket[] = [];
    const flaky = createServer((client) => {
      held.push(client);
      if (++connections === 1) {
        client.write('220 flaky ESMTP\r\n');
        client.once('data', () => client.destroy());
        return;
      }
      const upstream = createConnection(target.port, '127.0.0.1');
      held.push(upstream);
      client.pipe(upstream).pipe(client);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    try {
      const own = await ownAccount('u-network', { ...target.settings(), port: (flaky.address() as AddressInfo).port });
      const socket = await open('u-network');
      const seen = record(socket);
      await call(socket, 'subscribe', { accountId: own });
      const { sendId } = okAck(await call(socket, 'message.send', { ...base, accountId: own, idempotencyKey: 'net-1', subject: 'through a cut' }));
      const sent = await waitFor(() => seen.find((e) => e.name === ServerEvent.MessageSent), 15_000, 'message.sent');
      expect(sent.payload).toMatchObject({ sendId, accountId: own });
      expect(connections).toBeGreaterThanOrEqual(2);
      expect(target.received.filter((m) => m.raw.includes('Subject: through a cut'))).toHaveLength(1);
      expect(seen.some((e) => e.name === ServerEvent.MessageSendFailed)).toBe(false);
    } finally {
      // The gateway pools SMTP connections: close them, or close() waits for them forever.
      held.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => flaky.close(() => resolve()));
      await target.stop();
    }
  });

  it('ends a refused SMTP AUTH in message.send_failed at once, without retrying the login', async () => {
    const own = await ownAccount('u-bad-auth', sink.settings('sender', 'wrong-password'));
    const socket = await open('u-bad-auth');
    const seen = record(socket);
    await call(socket, 'subscribe', { accountId: own });
    const authBefore = sink.authAttempts;
    const { sendId } = okAck(await call(socket, 'message.send', { ...base, accountId: own, idempotencyKey: 'auth-1', subject: 'wrong password' }));
    const failed = await waitFor(() => seen.find((e) => e.name === ServerEvent.MessageSendFailed), 10_000, 'message.send_failed');
    expect(failed.payload).toEqual({ sendId, accountId: own, error: { code: 'auth_failed', message: expect.any(String) } });
    // 5xx is permanent: one login, and the password never reaches the client.
    expect(sink.authAttempts - authBefore).toBe(1);
    expect(JSON.stringify(failed.payload)).not.toContain('wrong-password');
    expect(sink.received.some((m) => m.raw.includes('Subject: wrong password'))).toBe(false);
  });

  it.each([
    ['subject', { subject: 'hi\r\nBcc: victim@example.test' }, 'subject'],
    ['address', { to: [{ address: 'bob@example.test\r\nBcc: victim@example.test' }] }, 'to.0.address'],
    ['display name', { to: [{ name: 'Bob\nX-Evil: 1', address: 'bob@example.test' }] }, 'to.0.name'],
    ['attachment file name', { attachments: [{ filename: 'a\r\n.txt', contentType: 'text/plain', content: 'aGk=' }] }, 'attachments.0.filename'],
  ])('refuses CR/LF in the %s with bad_request and sends nothing', async (_what, override, field) => {
    const socket = await open();
    const before = sink.attempts;
    const ack = await call(socket, 'message.send', { ...base, subject: 'ok', accountId, idempotencyKey: `crlf-${field}`, ...override });
    expect(ack).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringContaining(field) } });
    // Refused before anything was queued: no job exists that could still send it.
    expect(await sendJobState(accountId, `crlf-${field}`)).toBe('unknown');
    expect(sink.attempts).toBe(before);
    expect(await stores.redis.client.exists(redisKeys.sendIdempotency(accountId, `crlf-${field}`))).toBe(0);
  });

  it('refuses an invalid address with bad_request', async () => {
    const socket = await open();
    const ack = await call(socket, 'message.send', { ...base, to: [{ address: 'not-an-address' }], subject: 'x', accountId, idempotencyKey: 'bad-addr' });
    expect(ack).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringContaining('to.0.address') } });
  });

  it('answers payload_too_large above SEND_MAX_BYTES', async () => {
    const socket = await open();
    const content = Buffer.alloc(250_000, 7).toString('base64');
    const ack = await call(socket, 'message.send', { ...base, accountId, idempotencyKey: 'big', subject: 'big', attachments: [{ filename: 'big.bin', contentType: 'application/octet-stream', content }] });
    expect(ack).toMatchObject({ ok: false, error: { code: 'payload_too_large' } });
  });

  it("answers forbidden when sending through another user's account", async () => {
    const socket = await open('u2');
    const ack = await call(socket, 'message.send', { ...base, accountId, idempotencyKey: 'steal', subject: 'x' });
    expect(ack).toMatchObject({ ok: false, error: { code: 'forbidden' } });
  });

  it('rate-limits sends per user', async () => {
    const imap = dovecot.imapSettings('alice@example.test');
    const own = (await stores.accounts.create({ userId: 'u3', email: 'alice@example.test', imap, smtp: sink.settings('sender', 'smtp-pass-alice'), mailboxes: ['INBOX'] })).id;
    const socket = await open('u3');
    const acks = [];
    for (let i = 0; i < 11; i++) acks.push(await call(socket, 'message.send', { ...base, accountId: own, idempotencyKey: `rate-${i}`, subject: `rate ${i}` }));
    expect(acks.slice(0, 10).every((a) => a.ok)).toBe(true);
    expect(acks[10]).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
  });

  it('keeps no account password in plaintext anywhere in Redis', async () => {
    const client = stores.redis.client;
    const keys = await client.keys('*');
    const values: string[] = [];
    for (const key of keys) {
      const type = await client.type(key);
      if (type === 'string') values.push((await client.get(key)) ?? '');
      else if (type === 'hash') values.push(JSON.stringify(await client.hgetall(key)));
      else if (type === 'list') values.push(JSON.stringify(await client.lrange(key, 0, -1)));
      else if (type === 'set') values.push(JSON.stringify(await client.smembers(key)));
      else if (type === 'zset') values.push(JSON.stringify(await client.zrange(key, 0, -1)));
      else if (type === 'stream') values.push(JSON.stringify(await client.xrange(key, '-', '+')));
    }
    const dump = keys.join('\n') + values.join('\n');
    expect(keys.length).toBeGreaterThan(10);
    expect(dump).not.toContain('imap-pass-alice');
    expect(dump).not.toContain('smtp-pass-alice');
  });
});
