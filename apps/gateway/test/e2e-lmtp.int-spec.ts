import { BULL_PREFIX, QueueName, ServerEvent, redisKeys } from '@pushmail/contracts';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { AppProcess, SmtpSink, TestDovecot, TestRedis, testEnv, waitFor } from '@pushmail/testing';
import { ADMIN_TOKEN, ClientSocket, call, connect, gatewayEnv, okAck, record, tokenFor } from './helpers';

jest.setTimeout(60_000);

/**
 * The real pipeline, every app as deployed: LMTP delivery → Dovecot → watcher (IDLE) → fetcher →
 * event log → gateway → socket.io-client. Then the commands and a reply through the same stack.
 */
describe('end to end: LMTP delivery to a Socket.IO client', () => {
  const user = 'alice@example.test';
  let redis: TestRedis;
  let dovecot: TestDovecot;
  let sink: SmtpSink;
  let watcher: AppProcess;
  let fetcher: AppProcess;
  let gateway: AppProcess;
  let accountId: string;
  let mailboxJobs: Queue;
  let queueConnection: IORedis;
  const sockets: ClientSocket[] = [];
  const open = async () => {
    const s = await connect(gateway.url, await tokenFor('u1'));
    sockets.push(s);
    return s;
  };

  beforeAll(async () => {
    [redis, dovecot, sink] = await Promise.all([TestRedis.start(), TestDovecot.start({ users: { [user]: 'imap-pass-alice' } }), SmtpSink.start()]);
    queueConnection = new IORedis(redis.url);
    mailboxJobs = new Queue(QueueName.MailboxEvents, { connection: queueConnection, prefix: BULL_PREFIX });
    const common = testEnv(redis.url);
    [watcher, fetcher, gateway] = await Promise.all([
      AppProcess.start('watcher', { ...common, RECONCILE_INTERVAL_MS: '500', BACKOFF_MIN_MS: '100', BACKOFF_MAX_MS: '1000' }),
      AppProcess.start('fetcher', common),
      AppProcess.start('gateway', { ...gatewayEnv(redis.url), PUSHMAIL_SECRET_KEY: common.PUSHMAIL_SECRET_KEY }),
    ]);
    const res = await fetch(`${gateway.url}/api/accounts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'u1', email: user, imap: dovecot.imapSettings(user), smtp: sink.settings() }),
    });
    expect(res.status).toBe(201);
    accountId = ((await res.json()) as { id: string }).id;
    await waitFor(async () => {
      const view = (await (await fetch(`${gateway.url}/api/accounts/${accountId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { state: string };
      return view.state === 'connected';
    }, 20_000, 'the watcher to connect the account', 100);
  });
  afterEach(() => sockets.splice(0).forEach((s) => s.close()));
  afterAll(async () => {
    await mailboxJobs?.close();
    queueConnection?.disconnect();
    await Promise.all([gateway?.stop(), fetcher?.stop(), watcher?.stop()]);
    await sink?.stop();
    await dovecot?.dispose();
    await redis?.dispose();
  });

  it('pushes message.new with the contract fields after an LMTP delivery', async () => {
    const socket = await open();
    const seen = record(socket);
    okAck(await call(socket, 'subscribe', { accountId }));
    await dovecot.deliver(user, { subject: 'Pushed live', text: 'Hello from LMTP', messageId: '<e2e-1@example.test>', headers: { References: '<root@example.test>' } });
    const event = (await waitFor(() => seen.find((e) => e.name === ServerEvent.MessageNew), 15_000, 'message.new')).payload;
    await waitFor(async () => Object.values(await mailboxJobs.getJobCounts('waiting', 'active', 'delayed', 'prioritized')).every((n) => n === 0), 15_000, 'the mailbox-events queue to drain', 100);
    await dovecot.deliver(user, { subject: 'after e2e-1', messageId: '<e2e-1-sentinel@example.test>' });
    await waitFor(() => seen.find((e) => e.payload.messageId === '<e2e-1-sentinel@example.test>'), 15_000, 'the sentinel');
    expect(seen.filter((e) => e.name === ServerEvent.MessageNew).map((e) => e.payload.messageId)).toEqual(['<e2e-1@example.test>', '<e2e-1-sentinel@example.test>']);
    expect(event).toMatchObject({
      eventId: expect.stringMatching(/^\d+-\d+$/),
      accountId,
      mailbox: 'INBOX',
      uid: expect.any(Number),
      uidValidity: expect.any(Number),
      messageId: '<e2e-1@example.test>',
      references: ['<root@example.test>'],
      subject: 'Pushed live',
      from: { name: 'Sender', address: 'sender@example.test' },
      to: [{ name: '', address: user }],
      cc: [],
      flags: expect.any(Array),
      size: expect.any(Number),
      attachments: [],
    });
    expect(Number.isInteger(event.uid)).toBe(true);
    expect(String(event.text)).toContain('Hello from LMTP');
    expect(String(event.preview)).toContain('Hello from LMTP');
    expect(typeof event.receivedAt).toBe('string');

    // Both latency histograms saw the push: append → emit, and the watcher's EXISTS → emit.
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(Number(/^pushmail_event_to_socket_ms_count (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(Number(/^pushmail_push_latency_ms_count (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);
  });

  it('pushes exactly one message.new per delivery, each with its own eventId', async () => {
    const socket = await open();
    const seen = record(socket);
    okAck(await call(socket, 'subscribe', { accountId }));
    const ids = Array.from({ length: 10 }, (_, i) => `<once-${i}@example.test>`);
    await Promise.all(ids.map((messageId, i) => dovecot.deliver(user, { subject: `once ${i}`, messageId })));
    await waitFor(() => ids.every((id) => seen.some((e) => e.payload.messageId === id)), 15_000, 'the ten messages');
    // Then no mailbox job is left anywhere (none waiting, running or set back for a retry), and a
    // sentinel goes through the whole pipeline after them: a second message.new for any of the ten
    // would have had to be appended before it.
    await waitFor(async () => Object.values(await mailboxJobs.getJobCounts('waiting', 'active', 'delayed', 'prioritized')).every((n) => n === 0), 15_000, 'the mailbox-events queue to drain', 100);
    await dovecot.deliver(user, { subject: 'once sentinel', messageId: '<once-sentinel@example.test>' });
    await waitFor(() => seen.find((e) => e.payload.messageId === '<once-sentinel@example.test>'), 15_000, 'the sentinel');
    const news = seen.filter((e) => e.name === ServerEvent.MessageNew);
    for (const messageId of ids) expect([messageId, news.filter((e) => e.payload.messageId === messageId).length]).toEqual([messageId, 1]);
    expect(news).toHaveLength(ids.length + 1);
    expect(new Set(news.map((e) => e.payload.eventId)).size).toBe(news.length);
  });

  it('replays exactly the 20 deliveries made while disconnected, once each, in log order', async () => {
    const first = await open();
    const seen = record(first);
    okAck(await call(first, 'subscribe', { accountId }));
    await dovecot.deliver(user, { subject: 'before the gap' });
    const last = await waitFor(() => seen.find((e) => e.payload.subject === 'before the gap'), 15_000, 'the message before the gap');
    first.close();

    for (let i = 0; i < 20; i++) await dovecot.deliver(user, { subject: `missed ${i}` });
    // Wait until the pipeline logged all 20 (read from the log itself), then subscribe once: a
    // subscribe repeated until it replays 20 would also record the earlier subscription's live
    // events, which the repeated replay carries again (a client drops those by eventId).
    const missedInLog = async () => (await queueConnection.xrange(redisKeys.eventLog(accountId), `(${String(last.payload.eventId)}`, '+')).length;
    await waitFor(async () => (await missedInLog()) >= 20, 20_000, '20 events in the log', 100);
    const again = await open();
    const replay = record(again);
    const { replayed } = okAck(await call(again, 'subscribe', { accountId, since: last.payload.eventId }));
    const news = replay.filter((e) => e.name === ServerEvent.MessageNew);
    expect(replayed).toBe(20);
    // Each of the 20 exactly once, replayed in the log's order (eventIds rising). The log's order is
    // the order of appends, which follows UIDs only for messages in flight together: a job whose
    // first attempt failed (e.g. not yet visible to the pooled connection) is appended after later
    // UIDs, as seen once in CI.
    const subjects = news.map((e) => String(e.payload.subject));
    expect([...subjects].sort((a, b) => Number(a.split(' ')[1]) - Number(b.split(' ')[1]))).toEqual(Array.from({ length: 20 }, (_, i) => `missed ${i}`));
    const ids = news.map((e) => String(e.payload.eventId).split('-').map(Number));
    expect(ids.every((id, i) => i === 0 || id[0] > ids[i - 1][0] || (id[0] === ids[i - 1][0] && id[1] > ids[i - 1][1]))).toBe(true);
  });

  it('logs a summary and stores the body once; after the body expires a replay says bodyExpired and message.get fetches it from the server', async () => {
    const socket = await open();
    const seen = record(socket);
    okAck(await call(socket, 'subscribe', { accountId }));
    const marker = `BODYONCE${Date.now()}`;
    // The marker ends the body, past the ~200 characters the summary's preview holds.
    await dovecot.deliver(user, { subject: 'Body kept once', text: `${'Body text. '.repeat(500)}${marker}`, messageId: '<body-once@example.test>' });
    const live = (await waitFor(() => seen.find((e) => e.payload.messageId === '<body-once@example.test>'), 15_000, 'the live message.new')).payload;
    // Live: the whole message.
    expect(String(live.text)).toContain(marker);
    expect(live.bodyExpired).toBeUndefined();
    // In Redis: the body once, under its key for BODY_CACHE_SECONDS (24 h by default); the log entry has the summary.
    const bodyKey = redisKeys.message(accountId, 'INBOX', Number(live.uidValidity), Number(live.uid));
    const r = queueConnection;
    expect(await r.get(bodyKey)).toContain(marker);
    expect(await r.ttl(bodyKey)).toBeGreaterThan(86_000);
    expect(await r.ttl(bodyKey)).toBeLessThanOrEqual(86_400);
    const [[, fields]] = await r.xrange(redisKeys.eventLog(accountId), String(live.eventId), String(live.eventId));
    expect(fields.join('\n')).not.toContain(marker);
    expect(fields).toContain(bodyKey);

    // The body expires: a replay carries the summary.
    await r.del(bodyKey);
    const again = await open();
    const replay = record(again);
    okAck(await call(again, 'subscribe', { accountId, since: '0-0' }));
    const replayed = replay.find((e) => e.payload.eventId === live.eventId)!.payload;
    expect(replayed).toMatchObject({ bodyExpired: true, subject: 'Body kept once', messageId: '<body-once@example.test>', uid: live.uid, preview: live.preview });
    expect(replayed).not.toHaveProperty('text');
    expect(replayed).not.toHaveProperty('html');
    // message.get fetches it from the IMAP server again.
    const got = okAck(await call(again, 'message.get', { accountId, mailbox: 'INBOX', uid: Number(live.uid) })).message;
    expect(got.text).toContain(marker);
  });

  it('flags and fetches through the fetcher, and a reply reaches the SMTP sink threaded', async () => {
    const socket = await open();
    const seen = record(socket);
    okAck(await call(socket, 'subscribe', { accountId }));
    await dovecot.deliver(user, { subject: 'Reply to me', messageId: '<e2e-reply@example.test>' });
    const original = (await waitFor(() => seen.find((e) => e.payload.subject === 'Reply to me'), 15_000, 'the original')).payload as { uid: number };

    const flagged = okAck(await call(socket, 'message.flag', { accountId, mailbox: 'INBOX', uid: original.uid, add: ['\\Seen'] }));
    expect(flagged).toMatchObject({ ok: true });
    const client = await dovecot.imap(user);
    await client.mailboxOpen('INBOX');
    const row = await client.fetchOne(String(original.uid), { flags: true }, { uid: true });
    await client.logout();
    expect([...((row && row.flags) || [])]).toContain('\\Seen');

    const got = okAck(await call(socket, 'message.get', { accountId, mailbox: 'INBOX', uid: original.uid }));
    expect(got.message).toMatchObject({ uid: original.uid, subject: 'Reply to me', messageId: '<e2e-reply@example.test>' });

    okAck(await call(socket, 'message.send', { accountId, idempotencyKey: 'e2e-reply', to: [{ address: 'sender@example.test' }], subject: 'Reply to me', text: 'thanks', inReplyTo: { mailbox: 'INBOX', uid: original.uid } }));
    const mail = await waitFor(() => sink.received.find((m) => m.raw.includes('In-Reply-To: <e2e-reply@example.test>')), 15_000, 'the reply');
    expect(mail.raw).toMatch(/^Subject: Re: Reply to me\r?$/m);
    await waitFor(() => seen.find((e) => e.name === ServerEvent.MessageSent), 10_000, 'message.sent');
  });
});
