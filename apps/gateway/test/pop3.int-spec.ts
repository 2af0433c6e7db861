import { INestApplication } from '@nestjs/common';
import { AccountView, MessageSummary } from '@pushmail/contracts';
import { AppProcess, TestDovecot, TestRedis, testEnv, testStores, waitFor } from '@pushmail/testing';
import { ClientSocket, call, connect, okAck, record, startGateway, tokenFor } from './helpers';

/**
 * Issue 18 end to end: a POP3 account added through the user API, with 5 messages already on the
 * real Dovecot POP3 server; the gateway (in process), the built watcher and fetcher. The 3 delivered
 * later arrive as message.new within the interval plus 2 s, once each; the 5 older ones are
 * listable, not pushed; moving is bad_request; `\Seen` set through message.flag survives a gateway
 * restart; a watcher restart (SIGTERM) and a watcher kill -9 lose nothing and repeat nothing.
 */
jest.setTimeout(120_000);

const USER = 'pop-e2e@example.test';
const PASS = 'pop-e2e-pass';
const INTERVAL_S = 2;

describe('POP3 accounts through the gateway', () => {
  let redis: TestRedis;
  let dovecot: TestDovecot;
  let stores: ReturnType<typeof testStores>;
  let app: INestApplication;
  let url: string;
  let fetcher: AppProcess;
  let watcher: AppProcess;
  let accountId: string;
  const sockets: ClientSocket[] = [];
  const open = async (user = 'u-pop') => {
    const s = await connect(url, await tokenFor(user));
    sockets.push(s);
    return s;
  };
  const asUser = async (userId: string, method: string, path: string, body?: unknown) =>
    fetch(url + path, { method, headers: { authorization: `Bearer ${await tokenFor(userId)}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const GATEWAY_ENV = { POP3_MIN_POLL_SECONDS: '1' };

  beforeAll(async () => {
    [redis, dovecot] = await Promise.all([TestRedis.start(), TestDovecot.start({ users: { [USER]: PASS } })]);
    for (let i = 1; i <= 5; i++) await dovecot.deliver(USER, { subject: `old ${i}` });
    stores = testStores(redis.url);
    ({ app, url } = await startGateway(redis.url, GATEWAY_ENV));
    const common = testEnv(redis.url);
    [fetcher, watcher] = await Promise.all([AppProcess.start('fetcher', common), AppProcess.start('watcher', { ...common, RECONCILE_INTERVAL_MS: '500', WATCHER_TICK_MS: '100' })]);
  });
  afterEach(() => sockets.splice(0).forEach((s) => s.close()));
  afterAll(async () => {
    await Promise.all([fetcher?.stop(), watcher?.stop()]);
    await app?.close();
    await stores?.close();
    await dovecot?.dispose();
    await redis?.dispose();
  });

  it('refuses imap and pop3 together, and neither, naming the field', async () => {
    const pop3 = dovecot.pop3Settings(USER);
    const both = await asUser('u-pop', 'POST', '/api/me/accounts', { email: USER, imap: dovecot.imapSettings(USER), pop3, smtp: { ...pop3, port: 2525 } });
    expect(both.status).toBe(400);
    expect(JSON.stringify(await both.json())).toContain('pop3');
    const neither = await asUser('u-pop', 'POST', '/api/me/accounts', { email: USER, smtp: { ...pop3, port: 2525 } });
    expect(neither.status).toBe(400);
    expect(JSON.stringify(await neither.json())).toContain('imap');
  });

  it('5 existing messages are listable, not pushed; 3 later ones arrive as message.new within the interval plus 2 s, once each', async () => {
    const pop3 = dovecot.pop3Settings(USER);
    const res = await asUser('u-pop', 'POST', '/api/me/accounts', { email: USER, pop3, smtp: { ...pop3, port: 2525 }, pollIntervalSeconds: INTERVAL_S });
    expect(res.status).toBe(201);
    const view = (await res.json()) as AccountView;
    expect(view).toMatchObject({ protocol: 'pop3', delivery: 'poll', pollIntervalSeconds: INTERVAL_S, mailboxes: ['INBOX'] });
    accountId = view.id;
    await waitFor(async () => (await stores.accounts.getState(accountId))?.state === 'connected', 30_000, 'the first poll', 100);

    const socket = await open();
    const seen = record(socket);
    const receivedAt = new Map<string, number>();
    socket.onAny((name: string, m: { subject?: string }) => {
      if (name === 'message.new') receivedAt.set(String(m.subject), Date.now());
    });
    expect(okAck(await call(socket, 'subscribe', { accountId }))).toMatchObject({ replayed: 0 });
    const arrivals = new Map<string, number>();
    for (let i = 1; i <= 3; i++) {
      const sentAt = Date.now();
      await dovecot.deliver(USER, { subject: `new ${i}` });
      arrivals.set(`new ${i}`, sentAt);
    }
    await waitFor(async () => seen.filter((e) => e.name === 'message.new').length >= 3, 20_000, 'three message.new', 50);
    const latencies = [...arrivals].map(([subject, sentAt]) => receivedAt.get(subject)! - sentAt);
    console.log(`POP3 delivery → message.new at a ${INTERVAL_S} s interval: ${latencies.join(', ')} ms`);
    // Another two polls: nothing more.
    await new Promise((r) => setTimeout(r, INTERVAL_S * 2000 + 500));
    const news = seen.filter((e) => e.name === 'message.new');
    expect(news.map((e) => e.payload.subject).sort()).toEqual(['new 1', 'new 2', 'new 3']);
    for (const latency of latencies) expect(latency).toBeLessThanOrEqual(INTERVAL_S * 1000 + 2000);

    const page = okAck(await call(socket, 'message.list', { accountId, mailbox: 'INBOX', limit: 50 }));
    expect(page.total).toBe(8);
    expect(page.messages.map((m: MessageSummary) => m.subject)).toEqual(['new 3', 'new 2', 'new 1', 'old 5', 'old 4', 'old 3', 'old 2', 'old 1']);
    expect(page.messages.map((m: MessageSummary) => m.uid)).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it('moving POP3 mail is bad_request saying POP3 does not support it; mailbox.list is INBOX only', async () => {
    const socket = await open();
    const moved = await call(socket, 'message.move', { accountId, mailbox: 'INBOX', uids: [1], to: 'Archive' });
    expect(moved).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(JSON.stringify(moved)).toContain('POP3 does not support');
    const boxes = okAck(await call(socket, 'mailbox.list', { accountId }));
    expect(boxes.mailboxes.map((b: { path: string }) => b.path)).toEqual(['INBOX']);
  });

  it('\\Seen set through message.flag survives a gateway restart', async () => {
    const socket = await open();
    const seen = record(socket);
    okAck(await call(socket, 'subscribe', { accountId }));
    expect(okAck(await call(socket, 'message.flag', { accountId, mailbox: 'INBOX', uid: 1, add: ['\\Seen'] }))).toMatchObject({ flags: ['\\Seen'] });
    await waitFor(async () => seen.some((e) => e.name === 'message.flags' && e.payload.uid === 1), 10_000, 'message.flags', 50);
    const refused = await call(socket, 'message.flag', { accountId, mailbox: 'INBOX', uid: 1, add: ['$Label1'] });
    expect(refused).toMatchObject({ ok: false, error: { code: 'bad_request' } });

    sockets.splice(0).forEach((s) => s.close());
    await app.close();
    ({ app, url } = await startGateway(redis.url, GATEWAY_ENV));
    const after = await open();
    const page = okAck(await call(after, 'message.list', { accountId, mailbox: 'INBOX', limit: 50 }));
    expect(page.messages.find((m: MessageSummary) => m.uid === 1)?.flags).toEqual(['\\Seen']);
    expect(page.messages.find((m: MessageSummary) => m.uid === 2)?.flags).toEqual([]);
  });

  it('a watcher restart (SIGTERM) and a watcher kill -9 lose nothing and repeat nothing', async () => {
    const socket = await open();
    const seen = record(socket);
    okAck(await call(socket, 'subscribe', { accountId }));
    const common = testEnv(redis.url);
    const watcherEnv = { ...common, RECONCILE_INTERVAL_MS: '500', WATCHER_TICK_MS: '100' };

    // Restart: mail delivered while no watcher runs.
    await watcher.stop('SIGTERM');
    await dovecot.deliver(USER, { subject: 'during restart' });
    watcher = await AppProcess.start('watcher', watcherEnv);
    await waitFor(async () => seen.some((e) => e.name === 'message.new' && e.payload.subject === 'during restart'), 30_000, 'mail after the restart', 100);

    // kill -9 with a second watcher running: it takes the account over (lease and membership expire).
    const second = await AppProcess.start('watcher', watcherEnv);
    try {
      await dovecot.deliver(USER, { subject: 'before kill' });
      await watcher.stop('SIGKILL');
      await dovecot.deliver(USER, { subject: 'after kill' });
      await waitFor(async () => ['before kill', 'after kill'].every((s) => seen.some((e) => e.name === 'message.new' && e.payload.subject === s)), 40_000, 'mail around the kill', 100);
      // Two more polls by the survivor: nothing repeated.
      await new Promise((r) => setTimeout(r, INTERVAL_S * 2000 + 500));
      const subjects = seen.filter((e) => e.name === 'message.new').map((e) => String(e.payload.subject));
      expect(subjects.sort()).toEqual(['after kill', 'before kill', 'during restart']);
      const page = okAck(await call(socket, 'message.list', { accountId, mailbox: 'INBOX', limit: 50 }));
      expect(page.total).toBe(11);
      expect(new Set(page.messages.map((m: MessageSummary) => m.uid)).size).toBe(11);
    } finally {
      watcher = second;
    }
  });
});
