import { BULL_PREFIX, MailboxJobName, QueueName, ServerEvent, redisKeys } from '@pushmail/contracts';
import { AppProcess, TestDovecot, TestRedis, freePort, testEnv, waitFor } from '@pushmail/testing';
import { Job, Queue } from 'bullmq';
import IORedis from 'ioredis';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { ADMIN_TOKEN, ClientSocket, call, connect, gatewayEnv, okAck, record, tokenFor } from '../../apps/gateway/test/helpers';

jest.setTimeout(120_000);

const SECRET = 'dovecot-push-secret-0123456789';
const user = 'push@example.test';
const stranger = 'stranger@example.test';

/**
 * Stands between Dovecot and the watchers, so a test can choose which watcher takes the
 * notifications, or make them fail (ingress down) or vanish (lost after a 202).
 */
class NotifyRelay {
  mode: 'forward' | 'down' | 'drop' = 'forward';
  target = '';
  readonly seen: unknown[] = [];
  private constructor(private readonly server: Server, readonly url: string) {}

  static async start(): Promise<NotifyRelay> {
    const port = await freePort();
    const server = createServer();
    const relay = new NotifyRelay(server, `http://127.0.0.1:${port}/api/notify/dovecot`);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void relay.handle(req, res));
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return relay;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    this.seen.push(JSON.parse(body));
    if (this.mode === 'down') return void res.writeHead(503).end();
    if (this.mode === 'drop') return void res.writeHead(202).end('{}');
    const forwarded = await fetch(this.target, { method: 'POST', headers: { authorization: req.headers.authorization ?? '', 'content-type': 'application/json' }, body });
    res.writeHead(forwarded.status).end(await forwarded.text());
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The shipped Lua script (deploy/dovecot/pushmail-notify.lua) in a real Dovecot, posting to the
 * built watchers' ingress; the built fetcher and gateway push to a Socket.IO client.
 */
describe('Dovecot push_notification → watcher ingress → Socket.IO', () => {
  let redis: TestRedis;
  let dovecot: TestDovecot;
  let relay: NotifyRelay;
  let watchers: AppProcess[];
  let fetcher: AppProcess;
  let gateway: AppProcess;
  let accountId: string;
  let mailboxJobs: Queue;
  let queueConnection: IORedis;
  const sockets: ClientSocket[] = [];
  const LEASE_TTL_MS = 10_000;

  const open = async () => {
    const s = await connect(gateway.url, await tokenFor('push-user'));
    sockets.push(s);
    okAck(await call(s, 'subscribe', { accountId }));
    return record(s);
  };
  const fetchJobOf = async (uid: number): Promise<Job | undefined> =>
    (await mailboxJobs.getJobs(['completed', 'waiting', 'active', 'delayed'])).find((j) => j.name === MailboxJobName.Fetch && j.data.accountId === accountId && j.data.uid === uid);
  const metric = async (app: AppProcess, name: string, labels: Record<string, string> = {}) => {
    const text = await (await fetch(`${app.url}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => (l.startsWith(name + '{') || l.startsWith(name + ' ')) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
      .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
  };
  /** No fetch job left to run, then a sentinel through the whole pipeline: a second copy of anything would come before it. */
  const drainThenSentinel = async (seen: ReturnType<typeof record>, tag: string) => {
    await waitFor(async () => Object.values(await mailboxJobs.getJobCounts('waiting', 'active', 'delayed', 'prioritized')).every((n) => n === 0), 15_000, 'the queue to drain', 100);
    const messageId = `<sentinel-${tag}@example.test>`;
    await dovecot.deliver(user, { subject: `sentinel ${tag}`, messageId });
    await waitFor(() => seen.find((e) => e.payload.messageId === messageId), 15_000, 'the sentinel');
  };
  const countOf = (seen: ReturnType<typeof record>, messageId: string) => seen.filter((e) => e.name === ServerEvent.MessageNew && e.payload.messageId === messageId).length;

  beforeAll(async () => {
    [redis, relay] = await Promise.all([TestRedis.start(), NotifyRelay.start()]);
    dovecot = await TestDovecot.start({ users: { [user]: 'pw-push', [stranger]: 'pw-stranger' }, pushNotify: { url: relay.url, secret: SECRET } });
    queueConnection = new IORedis(redis.url);
    mailboxJobs = new Queue(QueueName.MailboxEvents, { connection: queueConnection, prefix: BULL_PREFIX });
    const common = testEnv(redis.url);
    const watcherEnv = (id: string) => ({
      ...common,
      INSTANCE_ID: id,
      NOTIFY_SOURCES: JSON.stringify([{ name: 'test-dovecot', secret: SECRET, imapHosts: ['127.0.0.1'] }]),
      LEASE_TTL_MS: String(LEASE_TTL_MS),
      RECONCILE_INTERVAL_MS: '500',
      BACKOFF_MIN_MS: '100',
      BACKOFF_MAX_MS: '1000',
    });
    [fetcher, gateway, ...watchers] = await Promise.all([
      AppProcess.start('fetcher', common),
      AppProcess.start('gateway', { ...gatewayEnv(redis.url), PUSHMAIL_SECRET_KEY: common.PUSHMAIL_SECRET_KEY }),
      AppProcess.start('watcher', watcherEnv('w1')),
      AppProcess.start('watcher', watcherEnv('w2')),
    ]);
    relay.target = `${watchers[0].url}/api/notify/dovecot`;
    const res = await fetch(`${gateway.url}/api/accounts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'push-user', email: user, imap: dovecot.imapSettings(user), smtp: { ...dovecot.imapSettings(user), port: 2525 } }),
    });
    expect(res.status).toBe(201);
    accountId = ((await res.json()) as { id: string }).id;
    await waitFor(async () => {
      const view = (await (await fetch(`${gateway.url}/api/accounts/${accountId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { state: string };
      return view.state === 'connected';
    }, 20_000, 'the watcher to connect the account', 100);
  });

  afterEach(() => {
    sockets.splice(0).forEach((s) => s.close());
    relay.mode = 'forward';
  });

  afterAll(async () => {
    await mailboxJobs?.close();
    queueConnection?.disconnect();
    await Promise.all([gateway?.stop(), fetcher?.stop(), ...(watchers ?? []).map((w) => w.stop())]);
    await relay?.close();
    await dovecot?.dispose();
    await redis?.dispose();
  });

  it('a delivered message arrives through the ingress, once', async () => {
    const seen = await open();
    const firstSeen = await metric(fetcher, 'pushmail_messages_first_seen_total', { via: 'notify' });
    await dovecot.deliver(user, { subject: 'via notify', messageId: '<via-notify@example.test>' });
    const event = await waitFor(() => seen.find((e) => e.payload.messageId === '<via-notify@example.test>'), 15_000, 'message.new');
    expect((await fetchJobOf(event.payload.uid as number))?.data.via).toBe('notify');
    expect(relay.seen.at(-1)).toEqual([{ event: 'MessageNew', user, mailbox: 'INBOX', uidValidity: event.payload.uidValidity, uid: event.payload.uid }]);
    await drainThenSentinel(seen, 'notify');
    expect(countOf(seen, '<via-notify@example.test>')).toBe(1);
    // The sentinel came through the ingress too; IDLE's later enqueue of each was a no-op.
    expect(await metric(fetcher, 'pushmail_messages_first_seen_total', { via: 'notify' })).toBe(firstSeen + 2);
  });

  it('with the ingress down, the message arrives through IDLE, once', async () => {
    const seen = await open();
    relay.mode = 'down';
    await dovecot.deliver(user, { subject: 'via idle', messageId: '<via-idle@example.test>' });
    const event = await waitFor(() => seen.find((e) => e.payload.messageId === '<via-idle@example.test>'), 15_000, 'message.new');
    expect((await fetchJobOf(event.payload.uid as number))?.data.via).toBeUndefined();
    expect(dovecot.logs()).toMatch(/pushmail-notify: 503/);
    relay.mode = 'forward';
    await drainThenSentinel(seen, 'idle');
    expect(countOf(seen, '<via-idle@example.test>')).toBe(1);
  });

  it('notifications lost after a 202: every message still arrives, once', async () => {
    const seen = await open();
    relay.mode = 'drop';
    const ids = Array.from({ length: 5 }, (_, i) => `<dropped-${i}@example.test>`);
    await Promise.all(ids.map((messageId, i) => dovecot.deliver(user, { subject: `dropped ${i}`, messageId })));
    await waitFor(() => ids.every((id) => seen.some((e) => e.payload.messageId === id)), 15_000, 'the five messages');
    relay.mode = 'forward';
    await drainThenSentinel(seen, 'dropped');
    for (const id of ids) expect([id, countOf(seen, id)]).toEqual([id, 1]);
  });

  it('a notification for a user without an account is ignored and counted', async () => {
    const ingress = watchers[0];
    const before = await metric(ingress, 'pushmail_notify_unmapped_total', { reason: 'unknown_login' });
    await dovecot.deliver(stranger, { subject: 'nobody watches this' });
    await waitFor(async () => (await metric(ingress, 'pushmail_notify_unmapped_total', { reason: 'unknown_login' })) === before + 1, 10_000, 'the unmapped count');
    expect(await mailboxJobs.getJobCounts('waiting', 'active', 'delayed')).toEqual({ waiting: 0, active: 0, delayed: 0 });
  });

  it('failover: with the lease owner killed, a notified message is still fetched and pushed at once', async () => {
    const seen = await open();
    const owner = (await queueConnection.get(redisKeys.lease(accountId)))!.split('.')[0];
    const [dead, alive] = owner === 'w1' ? [watchers[0], watchers[1]] : [watchers[1], watchers[0]];
    relay.target = `${alive.url}/api/notify/dovecot`;
    await dead.kill9();
    const started = Date.now();
    await dovecot.deliver(user, { subject: 'after failover', messageId: '<failover@example.test>' });
    const event = await waitFor(() => seen.find((e) => e.payload.messageId === '<failover@example.test>'), 15_000, 'message.new');
    const elapsed = Date.now() - started;
    // First seen through the ingress of the surviving watcher, not through an IDLE session (the
    // owner's died with it; a new one would need the lease taken over and a login first).
    expect((await fetchJobOf(event.payload.uid as number))?.data.via).toBe('notify');
    expect(elapsed).toBeLessThan(LEASE_TTL_MS);
    const leaseNow = (await queueConnection.get(redisKeys.lease(accountId)))?.split('.')[0] ?? 'none';
    process.stdout.write(`failover: pushed ${elapsed} ms after the LMTP delivery began; lease owner ${owner} dead, lease now held by ${leaseNow}\n`);
  });
});
