import { ServerEvent } from '@pushmail/contracts';
import { AppProcess, TestDovecot, TestRedis, freePort, testStores } from '@pushmail/testing';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { loadavg } from 'node:os';
import { createTransport } from 'nodemailer';
import { io } from 'socket.io-client';
import { waitAllConnected } from '../lib/accounts';
import { sleep } from '../lib/clock';
import { eachLimited } from '../lib/imap-clients';
import { BENCH_DOVECOT_CONFIG, PASSWORD, appEnv, makeUsers, startRedis, userName } from '../lib/infra';
import { clientToken } from '../lib/jwt';
import { notifyJudgement } from '../lib/floor-ratios';
import { ScenarioRun } from '../lib/scenario';
import { summarize } from '../lib/stats';
import { BenchContext, NotRun } from '../lib/types';
import { appBuilt } from '../lib/infra';

/**
 * The push-notification path (issue 20), measured on its own: `npx tsx bench/scenarios/notify-ingress.ts
 * [accounts] [rate] [seconds]`, with the apps built; also the `notify-ingress` scenario of a full
 * `npm run bench` (skipped by `--quick`, to keep CI time), through {@link notifyIngressScenario}:
 *
 * - floor: LMTP ack → the notification received by a bare HTTP server, on a Dovecot configured the
 *   same way (the shipped Lua script). Negative: the script's request runs inside the delivery.
 * - ingress: LMTP ack → `message.new` at a Socket.IO client, at `rate` messages/s spread over
 *   `accounts` accounts (every one with its IDLE session open, so IDLE races the ingress as in production).
 * - LMTP delivery time with the ingress up and down (a refused connection).
 * - ingress throughput: single-notification requests, 64 at a time, fetcher stopped.
 */
const SECRET = 'bench-notify-secret-0123456789ab';
const lmtp = (port: number) => createTransport({ host: '127.0.0.1', port, lmtp: true, pool: true, maxConnections: 16 } as never);

async function deliverAtRate(port: number, count: number, rate: number, to: (i: number) => string, onAck: (i: number, messageId: string, at: number) => void): Promise<number[]> {
  const transport = lmtp(port);
  const deliveryMs: number[] = [];
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const messageId = `<notify-bench-${i}-${randomBytes(4).toString('hex')}@bench.test>`;
    const sent = performance.now();
    pending.push(
      transport.sendMail({ from: 'sender@bench.test', to: to(i), subject: `notify bench ${i}`, text: 'hello', messageId }).then(() => {
        deliveryMs.push(performance.now() - sent);
        onAck(i, messageId, Date.now());
      }),
    );
  }
  await Promise.all(pending);
  transport.close();
  return deliveryMs;
}

const fmt = (values: number[]) => {
  const s = summarize(values);
  return s ? `n=${s.n} p50=${s.p50} p95=${s.p95} p99=${s.p99} max=${s.max} ms` : 'n=0';
};

/** What one probe run measured (ms unless named otherwise). */
export interface NotifyIngressFigures {
  floor: number[];
  ingress: number[];
  sent: number;
  missing: number;
  deliveryUp: number[];
  deliveryDown: number[];
  throughputPerS: number;
  throughputFailed: number;
  /** pushmail_messages_first_seen_total lines from the fetcher (ingress vs IDLE). */
  firstSeen: string;
}

export async function notifyIngressProbe(accounts: number, rate: number, seconds: number, throughputTotal = 20_000): Promise<NotifyIngressFigures> {
  const count = rate * seconds;
  const secretKey = randomBytes(32).toString('base64');
  const jwtSecret = 'bench-jwt-secret-0123456789abcdef';

  // Floor: the shipped script posting to a bare server.
  const floorArrivals = new Map<string, number[]>();
  const bare = createServer((req, res) => {
    const at = Date.now();
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      for (const n of JSON.parse(body) as Array<{ user: string }>) floorArrivals.set(n.user, [...(floorArrivals.get(n.user) ?? []), at]);
      res.writeHead(202).end('{}');
    });
  });
  const barePort = await freePort();
  await new Promise<void>((r) => bare.listen(barePort, '127.0.0.1', r));
  const floorUsers = 50;
  const floorDovecot = await TestDovecot.start({ users: makeUsers('floor', floorUsers), extraConfig: BENCH_DOVECOT_CONFIG, pushNotify: { url: `http://127.0.0.1:${barePort}/`, secret: SECRET } });
  const floorAcks = new Map<string, number[]>();
  await deliverAtRate(floorDovecot.lmtpPort, count, rate, (i) => userName('floor', i % floorUsers), (i) => {
    const user = userName('floor', i % floorUsers);
    floorAcks.set(user, [...(floorAcks.get(user) ?? []), Date.now()]);
  });
  await sleep(200);
  const floor: number[] = [];
  for (const [user, acks] of floorAcks) {
    // Deliveries to one user are a second apart, so the k-th notification is the k-th delivery's.
    const arrivals = floorArrivals.get(user) ?? [];
    acks.sort((a, b) => a - b).forEach((ack, k) => arrivals[k] !== undefined && floor.push(arrivals[k] - ack));
  }
  console.log(`floor (LMTP ack → notification at a bare HTTP server; negative = before the ack): ${fmt(floor)}`);
  await floorDovecot.dispose();
  bare.close();

  // The pipeline: Dovecot → watcher ingress → fetcher → gateway → socket.
  const redis: TestRedis = await startRedis();
  const watcherPort = await freePort();
  const users = makeUsers('pm', accounts);
  const dovecot = await TestDovecot.start({ users, extraConfig: BENCH_DOVECOT_CONFIG, pushNotify: { url: `http://127.0.0.1:${watcherPort}/api/notify/dovecot`, secret: SECRET } });
  const env = appEnv(redis.url, secretKey, { AUTH_JWT_SECRET: jwtSecret });
  const sources = JSON.stringify([{ name: 'bench', secret: SECRET, imapHosts: ['127.0.0.1'] }]);
  const [fetcher, gateway, watcher] = await Promise.all([
    AppProcess.start('fetcher', env),
    AppProcess.start('gateway', env),
    AppProcess.start('watcher', { ...env, PORT: String(watcherPort), NOTIFY_SOURCES: sources }),
  ]);
  const stores = testStores(redis.url, secretKey);
  const ids: string[] = new Array(accounts);
  await eachLimited(Object.keys(users), 32, async (email, i) => {
    const server = { host: '127.0.0.1', port: dovecot.imapPort, secure: false, user: email, pass: PASSWORD };
    ids[i] = (await stores.accounts.create({ userId: 'notify-bench', email, imap: server, smtp: { ...server, port: 25 }, mailboxes: ['INBOX'] })).id;
  });
  const connected = await waitAllConnected(stores, ids, 180_000);
  console.log(`accounts connected: ${JSON.stringify(connected.counts)}`);

  const socket = io(gateway.url, { transports: ['websocket'], auth: { token: clientToken(jwtSecret, 'notify-bench') }, forceNew: true });
  const received = new Map<string, number>();
  socket.on(ServerEvent.MessageNew as never, (e: { messageId?: string }) => {
    if (e.messageId) received.set(e.messageId, Date.now());
  });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  for (let i = 0; i < ids.length; i += 500) {
    await socket.timeout(30_000).emitWithAck('subscribe' as never, { accounts: ids.slice(i, i + 500).map((accountId) => ({ accountId })) } as never);
  }
  const acks = new Map<string, number>();
  const deliveryUp = await deliverAtRate(dovecot.lmtpPort, count, rate, () => Object.keys(users)[Math.floor(Math.random() * accounts)], (_, messageId, at) => acks.set(messageId, at));
  const deadline = Date.now() + 15_000;
  while (received.size < count && Date.now() < deadline) await sleep(100);
  const latency = [...acks].filter(([id]) => received.has(id)).map(([id, at]) => received.get(id)! - at);
  console.log(`ingress (LMTP ack → message.new at a Socket.IO client), ${rate} msg/s over ${accounts} accounts: ${fmt(latency)}; missing ${count - latency.length}`);
  const firstSeen = (await (await fetch(`${fetcher.url}/metrics`)).text())
    .split('\n')
    .filter((l) => l.startsWith('pushmail_messages_first_seen_total'))
    .join('; ');
  console.log(firstSeen);
  console.log(`LMTP delivery time, ingress up: ${fmt(deliveryUp)}`);
  socket.close();

  // Throughput of the ingress alone: the fetcher stopped, so the jobs only pile up in Redis.
  await fetcher.stop();
  const total = throughputTotal;
  let next = 0;
  const url = `${watcher.url}/api/notify/dovecot`;
  const emails = Object.keys(users);
  const started = performance.now();
  let failed = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < total) {
        const i = next++;
        const res = await fetch(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' },
          body: JSON.stringify({ event: 'MessageNew', user: emails[i % accounts], mailbox: 'INBOX', uidValidity: 1, uid: 1_000_000 + i }),
        });
        await res.arrayBuffer();
        if (res.status !== 202) failed++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  console.log(`ingress throughput: ${total} single-notification requests in ${elapsed.toFixed(1)} s = ${Math.round(total / elapsed)}/s (${failed} not 202), load generator on the same 2 cores`);

  // LMTP delivery time with the ingress down (nothing listening: connection refused).
  await watcher.stop();
  const deliveryDown = await deliverAtRate(dovecot.lmtpPort, Math.min(count, 500), rate, (i) => emails[i % accounts], () => undefined);
  console.log(`LMTP delivery time, ingress down: ${fmt(deliveryDown)}`);

  await gateway.stop();
  await stores.close();
  await dovecot.dispose();
  await redis.dispose();
  return { floor, ingress: latency, sent: count, missing: count - latency.length, deliveryUp, deliveryDown, throughputPerS: Math.round(total / elapsed), throughputFailed: failed, firstSeen };
}

/**
 * The probe as a scenario of a full `npm run bench` (not of `--quick`: 1,000 IDLE accounts and
 * 30 s of deliveries would double CI's bench step). Sizes: the run's accounts and rate (1,000 and
 * 50 msg/s in a full run), for half the run's duration. The IDLE path's figures are the
 * push-latency scenario's of the same run, when it ran before this one.
 */
export async function notifyIngressScenario(ctx: BenchContext): Promise<void> {
  const { p } = ctx;
  const seconds = Math.max(5, Math.round(p.durationS / 2));
  const run = new ScenarioRun(ctx, 'notify-ingress', { accounts: p.accounts, rate: p.rate, durationS: seconds, floorUsers: 50 });
  await run.step('notify ingress', async (r) => {
    if (!appBuilt('watcher') || !appBuilt('fetcher') || !appBuilt('gateway')) throw new NotRun('the apps are not built');
    const f = await notifyIngressProbe(p.accounts, p.rate, seconds, 5_000);
    const idle = ctx.recorded?.('push-latency');
    const idleFig = idle?.status === 'ok' ? { p50: idle.figures.p50 ?? null, p99: idle.figures.p99 ?? null } : null;
    const j = notifyJudgement(ctx, { floor: f.floor, ingress: f.ingress, sent: f.sent, idle: idleFig });
    Object.assign(r.figures, j.figures, {
      lmtpDeliveryUpP50: summarize(f.deliveryUp)?.p50 ?? null,
      lmtpDeliveryDownP50: summarize(f.deliveryDown)?.p50 ?? null,
      ingressThroughputPerS: f.throughputPerS,
    });
    r.targets.push(...j.targets);
    r.tables.push(...j.tables, {
      title: 'LMTP delivery time (send → 250) with the ingress up and down (ms)',
      columns: ['ingress', 'n', 'p50', 'p99'],
      rows: [
        ['up', f.deliveryUp.length, summarize(f.deliveryUp)?.p50 ?? null, summarize(f.deliveryUp)?.p99 ?? null],
        ['down (connection refused)', f.deliveryDown.length, summarize(f.deliveryDown)?.p50 ?? null, summarize(f.deliveryDown)?.p99 ?? null],
      ],
    });
    ctx.distributions['notify ingress'] = f.ingress;
    r.notes.push(
      `Floor: the shipped Lua script (deploy/dovecot/pushmail-notify.lua) posting to a bare HTTP server on a Dovecot configured the same way, 50 users; negative values are notifications received before the LMTP 250 (the request runs inside the delivery). Ingress: ${p.rate} msg/s over ${p.accounts} accounts for ${seconds} s, each account's IDLE session open so IDLE races the ingress. First seen (fetcher metric): ${f.firstSeen || 'not exported'}. Ingress throughput alone: ${f.throughputPerS} single-notification requests/s (5,000 requests, 64 at a time, fetcher stopped, ${f.throughputFailed} not 202). The EmailEngine figure is a constant measured earlier on this machine's Dovecot, not in this run.`,
    );
  });
  run.done();
}

/** utime + stime of a process in ms, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * The ingress alone, without IMAP: one built watcher (leasing no account, so no IMAP session costs
 * anything), `accounts` accounts in the index, `total` single-notification requests, 64 at a time,
 * then the same in arrays of 50. Reports requests/s and notifications per CPU-second of the
 * watcher, which on a loaded machine says more than wall-clock time.
 */
export async function notifyThroughput(accounts: number, total: number): Promise<void> {
  const secretKey = randomBytes(32).toString('base64');
  const redis = await startRedis();
  const stores = testStores(redis.url, secretKey);
  const emails = Array.from({ length: accounts }, (_, i) => userName('tp', i));
  await eachLimited(emails, 32, async (email) => {
    const server = { host: 'imap.bench.test', port: 143, secure: false, user: email, pass: PASSWORD };
    await stores.accounts.create({ userId: 'notify-tp', email, imap: server, smtp: server, mailboxes: ['INBOX'] });
  });
  const sources = JSON.stringify([{ name: 'bench', secret: SECRET, imapHosts: ['imap.bench.test'] }]);
  // WATCHER_NODE_OPTIONS, e.g. `--require ./profile.cjs`, reaches the watcher (profiling the ingress).
  const watcher = await AppProcess.start('watcher', { ...appEnv(redis.url, secretKey), NOTIFY_SOURCES: sources, WATCHER_MAX_ACCOUNTS: '1', NODE_OPTIONS: process.env.WATCHER_NODE_OPTIONS }, { waitReady: false });
  const url = `${watcher.url}/api/notify/dovecot`;
  const post = (body: unknown) =>
    fetch(url, { method: 'POST', headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (res) => {
      await res.arrayBuffer();
      return res.status;
    });
  const n = (i: number) => ({ event: 'MessageNew', user: emails[i % accounts], mailbox: 'INBOX', uidValidity: 1, uid: 1 + i });
  for (let i = 0; i < 500; i++) await post(n(10_000_000 + i)); // warm-up: JIT, connections
  for (const batch of [1, 50]) {
    const requests = Math.ceil(total / batch);
    let next = 0;
    let failed = 0;
    const cpuBefore = cpuMs(watcher.pid!);
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < requests) {
          const r = next++;
          const body = batch === 1 ? n(r) : Array.from({ length: batch }, (_, k) => n(batch * r + k + 20_000_000));
          if ((await post(body)) !== 202) failed++;
        }
      }),
    );
    const wallS = (performance.now() - started) / 1000;
    const cpuS = (cpuMs(watcher.pid!) - cpuBefore) / 1000;
    console.log(
      `ingress, ${batch === 1 ? 'one notification per request' : `${batch} per request`}: ${requests * batch} notifications in ${wallS.toFixed(1)} s = ${Math.round((requests * batch) / wallS)}/s wall; watcher CPU ${cpuS.toFixed(1)} s = ${Math.round((requests * batch) / cpuS)} notifications per CPU-second (${failed} not 202; load average ${loadavg()[0].toFixed(1)})`,
    );
  }
  await watcher.stop();
  await stores.close();
  await redis.dispose();
}

if (process.argv[1]?.endsWith('notify-ingress.ts') && process.argv[2] === 'throughput') {
  const [accounts = 1000, total = 20_000] = process.argv.slice(3).map(Number);
  notifyThroughput(accounts, total).then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
} else if (process.argv[1]?.endsWith('notify-ingress.ts')) {
  const [accounts = 1000, rate = 50, seconds = 30] = process.argv.slice(2).map(Number);
  notifyIngressProbe(accounts, rate, seconds).then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
