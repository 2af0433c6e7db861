import { signClientToken } from '@pushmail/auth';
import { QueueName } from '@pushmail/contracts';
import { AppName, AppProcess, TestDovecot, TestRedis, testEnv, waitFor } from '@pushmail/testing';
import { io, Socket } from 'socket.io-client';
import { REQUIRED_SERIES } from './support/metric-catalog';
import { MetricFamily, parsePrometheusText } from './support/prometheus';

const USER = 'metrics@example.test';
const apps: AppName[] = ['watcher', 'fetcher', 'gateway'];
/** Series that a message going through the pipeline must have given at least one observation. */
const OBSERVED_AFTER_ONE_MESSAGE = [
  'pushmail_exists_to_enqueue_ms',
  'pushmail_exists_to_append_ms',
  'pushmail_fetch_stage_ms',
  'pushmail_event_to_socket_ms',
  'pushmail_push_latency_ms',
];

/**
 * Every app's /metrics, scraped as Prometheus would after one message went the whole way (LMTP →
 * IDLE → job → fetch → event log → socket): the text must parse strictly, and the series that
 * issue 6 lists must be there with their agreed types and labels.
 */
describe('/metrics of the built apps, after a message went through the pipeline', () => {
  let redis: TestRedis;
  let dovecot: TestDovecot;
  const procs = {} as Record<AppName, AppProcess>;
  const scraped = {} as Record<AppName, Map<string, MetricFamily>>;
  let socket: Socket | undefined;

  beforeAll(async () => {
    redis = await TestRedis.start();
    dovecot = await TestDovecot.start({ users: { [USER]: 'pw-metrics' } });
    const env = testEnv(redis.url, { LEASE_TTL_MS: '3000', HEARTBEAT_INTERVAL_MS: '200', RECONCILE_INTERVAL_MS: '1000', WATCHER_TICK_MS: '100', SHUTDOWN_DRAIN_MS: '100' });
    [procs.fetcher, procs.gateway, procs.watcher] = await Promise.all([AppProcess.start('fetcher', env), AppProcess.start('gateway', env), AppProcess.start('watcher', env)]);

    const created = await fetch(`${procs.gateway.url}/api/accounts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'metrics-user', email: USER, imap: dovecot.imapSettings(USER), smtp: { ...dovecot.imapSettings(USER), port: 1 } }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    await waitFor(async () => {
      const res = await fetch(`${procs.gateway.url}/api/accounts/${id}`, { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
      return ((await res.json()) as { state: string }).state === 'connected';
    }, 15_000, 'the account to be connected', 100);

    const token = await signClientToken('metrics-user', env.AUTH_JWT_SECRET!, { expiresInSeconds: 600 });
    socket = io(procs.gateway.url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
    const s = socket;
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('connect_error', reject);
    });
    const arrived = new Promise<void>((resolve) => s.once('message.new', () => resolve()));
    const ack = (await s.timeout(10_000).emitWithAck('subscribe', { accountId: id })) as { ok: boolean };
    expect(ack.ok).toBe(true);
    await dovecot.deliver(USER, { subject: 'metrics probe', text: 'hello' });
    await arrived;

    for (const app of apps) {
      const res = await fetch(`${procs[app].url}/metrics`);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain;.*version=0\.0\.4/);
      scraped[app] = parsePrometheusText(await res.text());
    }
  }, 60_000);

  afterAll(async () => {
    socket?.close();
    await Promise.all(Object.values(procs).map((p) => p.stop()));
    await dovecot?.dispose();
    await redis?.dispose();
  }, 60_000);

  it.each(apps)('%s: /metrics parses as Prometheus text, with the process metrics', (app) => {
    expect(scraped[app].get('pushmail_process_resident_memory_bytes')?.samples[0].value).toBeGreaterThan(0);
  });

  it.each(REQUIRED_SERIES.map((s) => [s.app, s.name, s] as const))('%s exposes %s with its agreed type and labels', (app, name, series) => {
    const family = scraped[app].get(name);
    expect({ name, type: family?.type }).toEqual({ name, type: series.type });
    for (const sample of family!.samples) {
      const labels = Object.keys(sample.labels).filter((l) => !(series.type === 'histogram' && l === 'le'));
      expect({ name, labels: labels.sort() }).toEqual({ name, labels: [...series.labels].sort() });
    }
    if (OBSERVED_AFTER_ONE_MESSAGE.includes(name)) {
      const count = family!.samples.filter((s) => s.name === `${name}_count`).reduce((sum, s) => sum + s.value, 0);
      expect({ name, observed: count >= 1 }).toEqual({ name, observed: true });
    }
  });

  it('the live values tell the story of that message', () => {
    const value = (app: AppName, name: string, labels: Record<string, string> = {}) =>
      (scraped[app].get(name.replace(/_(count|sum|bucket)$/, ''))?.samples ?? [])
        .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        .reduce((sum, s) => sum + s.value, 0);
    expect(value('watcher', 'pushmail_watcher_accounts_owned')).toBe(1);
    expect(value('watcher', 'pushmail_idle_sessions')).toBeGreaterThanOrEqual(1);
    expect(value('gateway', 'pushmail_socket_clients')).toBe(1);
    expect(value('fetcher', 'pushmail_job_duration_ms_count', { queue: 'mailbox-events', outcome: 'completed' })).toBeGreaterThanOrEqual(1);
    expect(value('watcher', 'pushmail_imap_auth_failures_total')).toBe(0);
  });

  it('queue depth is reported for every queue by the apps that produce or consume it', () => {
    const queuesIn = (app: AppName) => new Set(scraped[app].get('pushmail_queue_depth')?.samples.map((s) => s.labels.queue));
    expect([...queuesIn('watcher')]).toEqual(expect.arrayContaining([QueueName.MailboxEvents]));
    expect([...queuesIn('fetcher')]).toEqual(expect.arrayContaining([QueueName.MailboxEvents, QueueName.ImapCommands]));
    expect([...queuesIn('gateway')]).toEqual(expect.arrayContaining([QueueName.Send]));
    const states = new Set(scraped.fetcher.get('pushmail_queue_depth')?.samples.map((s) => s.labels.state));
    expect([...states].sort()).toEqual(['active', 'delayed', 'failed', 'prioritized', 'waiting']);
  });
});
