import { ServerEvent } from '@pushmail/contracts';
import { AppProcess, TestDovecot, TestRedis, freePort, testStores } from '@pushmail/testing';
import type { ImapFlow } from 'imapflow';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, createServer, request as httpRequest } from 'node:http';
import { loadavg } from 'node:os';
import { createTransport } from 'nodemailer';
import { io } from 'socket.io-client';
import { waitAllConnected } from '../lib/accounts';
import { sleep } from '../lib/clock';
import { bareClient, eachLimited } from '../lib/imap-clients';
import { BENCH_DOVECOT_CONFIG, PASSWORD, appBuilt, appEnv, makeUsers, startRedis, userName } from '../lib/infra';
import { clientToken } from '../lib/jwt';
import { notifyJudgement } from '../lib/floor-ratios';
import { LmtpSendInfo, lmtpRejection } from '../lib/lmtp';
import { ScenarioRun, atLeast, judged } from '../lib/scenario';
import { summarize } from '../lib/stats';
import { BenchContext, NotRun } from '../lib/types';

/**
 * The push-notification path (issue 20), measured on its own: `npx tsx bench/scenarios/notify-ingress.ts
 * [accounts] [rate] [seconds]`, with the apps built; also the `notify-ingress` scenario of a full
 * `npm run bench` (skipped by `--quick`, to keep CI time), through {@link notifyIngressScenario}:
 *
 * - floor: LMTP ack → the notification received by a bare HTTP server, on a Dovecot configured the
 *   same way (the shipped Lua script). Negative: the script's request runs inside the delivery.
 * - IDLE floor: LMTP ack → EXISTS at bare IMAP clients IDLE-ing on that Dovecot at the same time.
 * - ingress: LMTP ack → `message.new` at a Socket.IO client, at `rate` messages/s spread over
 *   `accounts` accounts (every one with its IDLE session open, so IDLE races the ingress as in production).
 * - LMTP delivery time with the ingress up and down (a refused connection).
 * - ingress throughput: single-notification requests (the issue's measure), then 50 to a request,
 *   64 in flight, fetcher stopped; also per CPU-second of the watcher.
 *
 * Everything it starts (apps, Redis, both Dovecots with their mail directories, the bare server,
 * IMAP clients) is stopped and removed at the end, also when a step fails ({@link Cleanup}).
 */
const SECRET = 'bench-notify-secret-0123456789ab';
const lmtp = (port: number) => createTransport({ host: '127.0.0.1', port, lmtp: true, pool: true, maxConnections: 16 } as never);

interface Deliveries {
  /** Send → the recipient's 250 after DATA, for the acknowledged ones (ms). */
  deliveryMs: number[];
  /** Deliveries Dovecot did not acknowledge (a per-recipient failure reply or an error): not expected to arrive. */
  rejected: string[];
}

/** Open loop at `rate`: a late ack never delays later sends. Only a recipient's own 2xx counts as an ack. */
async function deliverAtRate(port: number, count: number, rate: number, to: (i: number) => string, onAck: (i: number, messageId: string, at: number) => void): Promise<Deliveries> {
  const transport = lmtp(port);
  const out: Deliveries = { deliveryMs: [], rejected: [] };
  const start = performance.now();
  const pending: Promise<void>[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const messageId = `<notify-bench-${i}-${randomBytes(4).toString('hex')}@bench.test>`;
      const sent = performance.now();
      pending.push(
        transport.sendMail({ from: 'sender@bench.test', to: to(i), subject: `notify bench ${i}`, text: 'hello', messageId }).then(
          (info: LmtpSendInfo) => {
            const rejected = lmtpRejection(info);
            if (rejected) return void out.rejected.push(rejected);
            out.deliveryMs.push(performance.now() - sent);
            onAck(i, messageId, Date.now());
          },
          (err: Error) => void out.rejected.push(err.message),
        ),
      );
    }
    await Promise.all(pending);
  } finally {
    transport.close();
  }
  return out;
}

const fmt = (values: number[]) => {
  const s = summarize(values);
  return s ? `n=${s.n} p50=${s.p50} p95=${s.p95} p99=${s.p99} max=${s.max} ms` : 'n=0';
};

/** Per user, the k-th ack matched with the k-th arrival (deliveries to one user are far apart, so in order). */
function pairInOrder(acks: Map<string, number[]>, arrivals: Map<string, number[]>): number[] {
  const out: number[] = [];
  for (const [user, list] of acks) {
    const seen = arrivals.get(user) ?? [];
    list.sort((a, b) => a - b).forEach((ack, k) => seen[k] !== undefined && out.push(seen[k] - ack));
  }
  return out;
}

/**
 * Undoes what a probe started, last first, each step on its own: a failed run leaves no app
 * process, Redis, Dovecot (its processes and its directory of mail and config) or listener behind.
 */
class Cleanup {
  private readonly steps: Array<{ what: string; run: () => unknown }> = [];
  add(what: string, run: () => unknown): void {
    this.steps.push({ what, run });
  }
  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step.run();
      } catch (err) {
        console.warn(`notify-ingress cleanup: ${step.what}: ${(err as Error).message}`);
      }
    }
  }
}

const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });

/** POSTs to the ingress on a keep-alive connection (node:http: far less client CPU than fetch on 2 shared cores). */
function postNotification(url: URL, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'POST', agent: keepAlive, headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** An app's event-loop delay since its last scrape, as "p50 / p99 / max ms" (prom-client's default metrics). */
async function loopDelay(appUrl: string): Promise<string> {
  const text = await (await fetch(`${appUrl}/metrics`)).text();
  const ms = (q: string) => Math.round(Number(new RegExp(`^pushmail_nodejs_eventloop_lag_${q}_seconds (\\S+)`, 'm').exec(text)?.[1] ?? NaN) * 10_000) / 10;
  return `${ms('p50')} / ${ms('p99')} / ${ms('max')} ms`;
}

/** utime + stime of a process in ms, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

export interface ThroughputFigures {
  notifications: number;
  perRequest: number;
  wallS: number;
  perS: number;
  /** Notifications per CPU-second of the watcher process: what one core of the watcher takes. */
  perWatcherCpuS: number;
  failed: number;
  load: number;
}

/** `total` notifications, `perRequest` to a request, 64 requests in flight; the watcher's CPU from /proc. */
async function measureThroughput(url: URL, watcherPid: number, emails: string[], total: number, perRequest: number, firstUid: number): Promise<ThroughputFigures> {
  const requests = Math.ceil(total / perRequest);
  const n = (i: number) => `{"event":"MessageNew","user":${JSON.stringify(emails[i % emails.length])},"mailbox":"INBOX","uidValidity":1,"uid":${firstUid + i}}`;
  let next = 0;
  let failed = 0;
  const cpuBefore = cpuMs(watcherPid);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < requests) {
        const r = next++;
        const body = perRequest === 1 ? n(r) : `[${Array.from({ length: perRequest }, (_, k) => n(perRequest * r + k)).join(',')}]`;
        if ((await postNotification(url, body).catch(() => 0)) !== 202) failed++;
      }
    }),
  );
  const wallS = (performance.now() - started) / 1000;
  const cpuS = (cpuMs(watcherPid) - cpuBefore) / 1000;
  const notifications = requests * perRequest;
  return { notifications, perRequest, wallS: Math.round(wallS * 10) / 10, perS: Math.round(notifications / wallS), perWatcherCpuS: cpuS > 0 ? Math.round(notifications / cpuS) : 0, failed, load: Math.round(loadavg()[0] * 10) / 10 };
}

const fmtThroughput = (t: ThroughputFigures) =>
  `${t.notifications} notifications, ${t.perRequest === 1 ? 'one per request' : `${t.perRequest} per request`}, in ${t.wallS} s = ${t.perS}/s wall; ${t.perWatcherCpuS} per watcher CPU-second (${t.failed} not 202; load average ${t.load})`;

/** What one probe run measured (ms unless named otherwise). */
export interface NotifyIngressFigures {
  floor: number[];
  /** LMTP ack → EXISTS at a bare IMAP client IDLE-ing on the floor's Dovecot. */
  idleFloor: number[];
  ingress: number[];
  /** The ingress figures split: first message to an account in the run (the fetcher logs in), and later ones. */
  ingressCold: number[];
  ingressWarm: number[];
  /** Deliveries Dovecot acknowledged during the ingress phase (what must arrive). */
  sent: number;
  missing: number;
  rejected: number;
  deliveryUp: number[];
  deliveryDown: number[];
  /** One notification per request, as the shipped script sends a lone delivery. */
  throughput: ThroughputFigures;
  /** The same notifications 50 to a request (a burst or a multi-mailbox delivery). */
  throughputBatched: ThroughputFigures;
  /** pushmail_messages_first_seen_total lines from the fetcher (ingress vs IDLE). */
  firstSeen: string;
  /** The fetcher's pool logins and not-yet-visible retries during the ingress phase (metric lines). */
  fetcherNotes: string;
  /** POST → 202 of a lone notification every 100 ms during the deliveries, timed by the bench (ms). */
  answerMs: number[];
  /** Each app's CPU over the ingress phase's deliveries, as a share of one core. */
  appCpu: string;
  /** Each app's event-loop delay over the same deliveries (prom-client's monitor, 10 ms resolution). */
  loopDelays: string;
  /** Notifications the Lua script logged as not answered 202 (mostly its 200 ms timeout). */
  notifyFailures: number;
  /** Load average (1 min) at the end of the ingress phase. */
  load: number;
}

export async function notifyIngressProbe(accounts: number, rate: number, seconds: number, throughputTotal = 20_000): Promise<NotifyIngressFigures> {
  const cleanup = new Cleanup();
  try {
    return await probe(cleanup, accounts, rate, seconds, throughputTotal);
  } finally {
    await cleanup.run();
  }
}

async function probe(cleanup: Cleanup, accounts: number, rate: number, seconds: number, throughputTotal: number): Promise<NotifyIngressFigures> {
  const count = rate * seconds;
  const secretKey = randomBytes(32).toString('base64');
  const jwtSecret = 'bench-jwt-secret-0123456789abcdef';

  // Floor: the shipped script posting to a bare server; beside it, bare IMAP clients IDLE-ing on
  // the same Dovecot (the IDLE floor: ~500 ms of Dovecot's notify delay).
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
  cleanup.add('bare HTTP server', () => {
    bare.closeAllConnections();
    bare.close();
  });
  const floorUsers = 50;
  const floorDovecot = await TestDovecot.start({ users: makeUsers('floor', floorUsers), extraConfig: BENCH_DOVECOT_CONFIG, pushNotify: { url: `http://127.0.0.1:${barePort}/`, secret: SECRET } });
  cleanup.add('floor Dovecot', () => floorDovecot.dispose());
  const existsAt = new Map<string, Array<{ count: number; at: number }>>();
  const idleClients: ImapFlow[] = [];
  cleanup.add('IDLE floor clients', () => Promise.all(idleClients.map((c) => c.logout().catch(() => c.close()))));
  await eachLimited(Object.keys(makeUsers('floor', floorUsers)), 10, async (user) => {
    // autoIdleDelay 0: imapflow otherwise waits 15 s after the last command before it IDLEs.
    const client = bareClient(floorDovecot.imapPort, { user, pass: PASSWORD }, { autoIdleDelay: 0 });
    client.on('exists', (d: { count: number }) => existsAt.set(user, [...(existsAt.get(user) ?? []), { count: d.count, at: Date.now() }]));
    await client.connect();
    idleClients.push(client);
    await client.mailboxOpen('INBOX');
    void client.idle().catch(() => undefined);
  });
  const floorAcks = new Map<string, number[]>();
  const floorDelivered = await deliverAtRate(floorDovecot.lmtpPort, count, rate, (i) => userName('floor', i % floorUsers), (i) => {
    const user = userName('floor', i % floorUsers);
    floorAcks.set(user, [...(floorAcks.get(user) ?? []), Date.now()]);
  });
  // Dovecot holds IDLE notifications back ~500 ms (up to its 1 s mailbox check): let the last show.
  await sleep(2000);
  const floor = pairInOrder(floorAcks, floorArrivals);
  // The k-th acknowledged delivery to a user is visible from the first EXISTS whose count reached k.
  const idleFloor: number[] = [];
  for (const [user, acks] of floorAcks) {
    const seen = existsAt.get(user) ?? [];
    acks.forEach((ack, k) => {
      const first = seen.find((e) => e.count >= k + 1);
      if (first) idleFloor.push(first.at - ack);
    });
  }
  console.log(`floor (LMTP ack → notification at a bare HTTP server; negative = before the ack): ${fmt(floor)}`);
  console.log(`IDLE floor (LMTP ack → EXISTS at a bare IMAP client, same Dovecot): ${fmt(idleFloor)}; ${floorDelivered.rejected.length} deliveries not acknowledged`);
  await cleanup.run();

  // The pipeline: Dovecot → watcher ingress → fetcher → gateway → socket.
  const redis: TestRedis = await startRedis();
  cleanup.add('Redis (its keys go with its directory)', () => redis.dispose());
  const watcherPort = await freePort();
  const users = makeUsers('pm', accounts);
  const emails = Object.keys(users);
  const dovecot = await TestDovecot.start({ users, extraConfig: BENCH_DOVECOT_CONFIG, pushNotify: { url: `http://127.0.0.1:${watcherPort}/api/notify/dovecot`, secret: SECRET } });
  cleanup.add('Dovecot', () => dovecot.dispose());
  const env = appEnv(redis.url, secretKey, { AUTH_JWT_SECRET: jwtSecret });
  const sources = JSON.stringify([{ name: 'bench', secret: SECRET, imapHosts: ['127.0.0.1'] }]);
  const started = await Promise.allSettled([
    AppProcess.start('fetcher', env),
    AppProcess.start('gateway', env),
    AppProcess.start('watcher', { ...env, PORT: String(watcherPort), NOTIFY_SOURCES: sources }),
  ]);
  for (const s of started) if (s.status === 'fulfilled') cleanup.add(`${s.value.app} process`, () => s.value.stop());
  const failedStart = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failedStart) throw failedStart.reason;
  const [fetcher, gateway, watcher] = started.map((s) => (s as PromiseFulfilledResult<AppProcess>).value);
  const stores = testStores(redis.url, secretKey);
  cleanup.add('stores', () => stores.close());
  const ids: string[] = new Array(accounts);
  await eachLimited(emails, 32, async (email, i) => {
    const server = { host: '127.0.0.1', port: dovecot.imapPort, secure: false, user: email, pass: PASSWORD };
    ids[i] = (await stores.accounts.create({ userId: 'notify-bench', email, imap: server, smtp: { ...server, port: 25 }, mailboxes: ['INBOX'] })).id;
  });
  const connected = await waitAllConnected(stores, ids, 180_000);
  console.log(`accounts connected: ${JSON.stringify(connected.counts)}`);

  const socket = io(gateway.url, { transports: ['websocket'], auth: { token: clientToken(jwtSecret, 'notify-bench') }, forceNew: true });
  cleanup.add('Socket.IO client', () => socket.close());
  const received = new Map<string, number>();
  socket.on(ServerEvent.MessageNew as never, (e: { messageId?: string }) => {
    if (e.messageId) received.set(e.messageId, Date.now());
  });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  for (let i = 0; i < ids.length; i += 500) {
    await socket.timeout(30_000).emitWithAck('subscribe' as never, { accounts: ids.slice(i, i + 500).map((accountId) => ({ accountId })) } as never);
  }
  const acks = new Map<string, number>();
  // The first message to an account in the run finds no pooled fetcher connection (a login on the
  // way); later ones find the warm connection a recently notified account keeps (FETCH_POOL_IDLE_MS).
  const recipients = new Set<string>();
  const firstToAccount = new Set<number>();
  const coldIds = new Set<string>();
  // Where the time goes under load: each app's CPU over the delivery phase (share of one core).
  const apps = { watcher, fetcher, gateway };
  const cpuBefore = Object.fromEntries(Object.entries(apps).map(([name, app]) => [name, cpuMs(app.pid!)]));
  // Each app's event-loop delay over the same phase (prom-client's monitor restarts at every scrape).
  await Promise.all(Object.values(apps).map((app) => loopDelay(app.url)));
  const phaseStarted = performance.now();
  // The ingress's own answer time under the same load: every 100 ms a notification for a user with
  // no account (looked up, counted, nothing enqueued), timed from this process.
  const answerMs: number[] = [];
  let answering = true;
  const ingressUrl = new URL(`${watcher.url}/api/notify/dovecot`);
  const answerProbe = (async () => {
    for (let i = 0; answering; i++) {
      const t0 = performance.now();
      if ((await postNotification(ingressUrl, JSON.stringify({ event: 'MessageNew', user: `nobody${i}@bench.test`, mailbox: 'INBOX', uidValidity: 1, uid: 1 })).catch(() => 0)) === 202) answerMs.push(performance.now() - t0);
      await sleep(100);
    }
  })();
  const up = await deliverAtRate(
    dovecot.lmtpPort,
    count,
    rate,
    (i) => {
      const email = emails[Math.floor(Math.random() * accounts)];
      if (!recipients.has(email)) firstToAccount.add(i);
      recipients.add(email);
      return email;
    },
    (i, messageId, at) => {
      acks.set(messageId, at);
      if (firstToAccount.has(i)) coldIds.add(messageId);
    },
  );
  const phaseMs = performance.now() - phaseStarted;
  const loopDelays = (await Promise.all(Object.entries(apps).map(async ([name, app]) => `${name} ${await loopDelay(app.url)}`))).join('; ');
  console.log(`event-loop delay over the deliveries (p50 / p99 / max): ${loopDelays}`);
  answering = false;
  await answerProbe;
  console.log(`ingress answer time (a lone notification every 100 ms during the deliveries, from this process): ${fmt(answerMs)}`);
  const appCpu = Object.entries(apps)
    .map(([name, app]) => `${name} ${Math.round(((cpuMs(app.pid!) - cpuBefore[name]) / phaseMs) * 100)} %`)
    .join(', ');
  const deadline = Date.now() + 15_000;
  while ([...acks.keys()].some((id) => !received.has(id)) && Date.now() < deadline) await sleep(100);
  const arrived = [...acks].filter(([id]) => received.has(id));
  const latency = arrived.map(([id, at]) => received.get(id)! - at);
  const cold = arrived.filter(([id]) => coldIds.has(id)).map(([id, at]) => received.get(id)! - at);
  const warm = arrived.filter(([id]) => !coldIds.has(id)).map(([id, at]) => received.get(id)! - at);
  const missing = acks.size - latency.length;
  console.log(`ingress (LMTP ack → message.new at a Socket.IO client), ${rate} msg/s over ${accounts} accounts: ${fmt(latency)}; missing ${missing}; ${up.rejected.length} deliveries not acknowledged`);
  console.log(`  first message to an account (fetcher logs in): ${fmt(cold)}; later ones (warm pooled connection): ${fmt(warm)}`);
  const fetcherMetrics = (await (await fetch(`${fetcher.url}/metrics`)).text()).split('\n');
  const firstSeen = fetcherMetrics.filter((l) => l.startsWith('pushmail_messages_first_seen_total')).join('; ');
  // Logins on the way, and fetches that had to look again for a UID the notification named.
  const fetcherNotes = fetcherMetrics.filter((l) => /^pushmail_(fetch_pool_logins_total|fetch_not_yet_visible_total)\b/.test(l)).join('; ');
  console.log(`${firstSeen}; ${fetcherNotes}`);
  console.log(`LMTP delivery time, ingress up: ${fmt(up.deliveryMs)}`);
  // The script logs every notification that did not get its 202 (a timeout is status 9008 or so).
  const notifyFailures = (dovecot.logs().match(/pushmail-notify: \d+/g) ?? []).length;
  const load = Math.round(loadavg()[0] * 10) / 10;
  console.log(`app CPU over the delivery phase (share of one core): ${appCpu}; notifications Dovecot logged as failed (no 202 within the script's 200 ms): ${notifyFailures}; load average ${load}`);
  socket.close();

  // Throughput of the ingress alone: the fetcher stopped, so the jobs only pile up in Redis. The
  // watcher still holds every account's IDLE session, as in production.
  await fetcher.stop();
  const url = new URL(`${watcher.url}/api/notify/dovecot`);
  await measureThroughput(url, watcher.pid!, emails, 1000, 1, 5_000_000); // warm-up: JIT, keep-alive connections
  const throughput = await measureThroughput(url, watcher.pid!, emails, throughputTotal, 1, 1_000_000);
  console.log(`ingress throughput: ${fmtThroughput(throughput)}`);
  const throughputBatched = await measureThroughput(url, watcher.pid!, emails, throughputTotal, 50, 3_000_000);
  console.log(`ingress throughput: ${fmtThroughput(throughputBatched)}`);

  // LMTP delivery time with the ingress down (nothing listening: connection refused).
  await watcher.stop();
  const down = await deliverAtRate(dovecot.lmtpPort, Math.min(count, 500), rate, (i) => emails[i % accounts], () => undefined);
  console.log(`LMTP delivery time, ingress down: ${fmt(down.deliveryMs)}`);

  return {
    floor,
    idleFloor,
    ingress: latency,
    ingressCold: cold,
    ingressWarm: warm,
    sent: acks.size,
    missing,
    rejected: up.rejected.length,
    deliveryUp: up.deliveryMs,
    deliveryDown: down.deliveryMs,
    throughput,
    throughputBatched,
    firstSeen,
    fetcherNotes,
    appCpu,
    loopDelays,
    answerMs,
    notifyFailures,
    load,
  };
}

/** The issue's figure for the ingress: notifications per second on one watcher process. */
export const NOTIFY_THROUGHPUT_TARGET_PER_S = 5000;

/**
 * The probe as a scenario of a full `npm run bench` (not of `--quick`: 1,000 IDLE accounts and
 * 30 s of deliveries would double CI's bench step). Sizes: the run's accounts and rate (1,000 and
 * 50 msg/s in a full run), for half the run's duration. The IDLE path's figures are the
 * push-latency scenario's of the same run, when it ran before this one; the IDLE floor is this
 * scenario's own.
 */
export async function notifyIngressScenario(ctx: BenchContext): Promise<void> {
  const { p } = ctx;
  const seconds = Math.max(5, Math.round(p.durationS / 2));
  const run = new ScenarioRun(ctx, 'notify-ingress', { accounts: p.accounts, rate: p.rate, durationS: seconds, floorUsers: 50 });
  await run.step('notify ingress', async (r) => {
    if (!appBuilt('watcher') || !appBuilt('fetcher') || !appBuilt('gateway')) throw new NotRun('the apps are not built');
    const f = await notifyIngressProbe(p.accounts, p.rate, seconds, 20_000);
    const idle = ctx.recorded?.('push-latency');
    const idleFig = idle?.status === 'ok' ? { p50: idle.figures.p50 ?? null, p99: idle.figures.p99 ?? null } : null;
    const j = notifyJudgement(ctx, { floor: f.floor, idleFloor: f.idleFloor, ingress: f.ingress, sent: f.sent, idle: idleFig });
    Object.assign(r.figures, j.figures, {
      lmtpRejected: f.rejected,
      notifyFailures: f.notifyFailures,
      ingressAnswerP50: summarize(f.answerMs)?.p50 ?? null,
      ingressAnswerP99: summarize(f.answerMs)?.p99 ?? null,
      warmP50: summarize(f.ingressWarm)?.p50 ?? null,
      warmP99: summarize(f.ingressWarm)?.p99 ?? null,
      coldP50: summarize(f.ingressCold)?.p50 ?? null,
      lmtpDeliveryUpP50: summarize(f.deliveryUp)?.p50 ?? null,
      lmtpDeliveryDownP50: summarize(f.deliveryDown)?.p50 ?? null,
      ingressThroughputPerS: f.throughput.perS,
      ingressPerWatcherCpuS: f.throughput.perWatcherCpuS,
      ingressBatchedThroughputPerS: f.throughputBatched.perS,
    });
    r.targets.push(
      ...j.targets,
      judged(ctx, atLeast('ingress throughput, one notification per request, one watcher (wall clock)', f.throughput.perS, NOTIFY_THROUGHPUT_TARGET_PER_S, 'notifications/s')),
    );
    r.tables.push(
      ...j.tables,
      {
        title: 'LMTP ack → message.new via the ingress, by the fetcher connection it found (ms)',
        columns: ['message', 'n', 'p50', 'p95', 'p99'],
        rows: [
          ['first to its account in the run (login on the way)', f.ingressCold.length, summarize(f.ingressCold)?.p50 ?? null, summarize(f.ingressCold)?.p95 ?? null, summarize(f.ingressCold)?.p99 ?? null],
          ['later (warm pooled connection)', f.ingressWarm.length, summarize(f.ingressWarm)?.p50 ?? null, summarize(f.ingressWarm)?.p95 ?? null, summarize(f.ingressWarm)?.p99 ?? null],
        ],
      },
      {
        title: 'LMTP delivery time (send → 250, open loop over 16 LMTP connections: includes waiting for a free one when deliveries back up) with the ingress up and down (ms)',
        columns: ['ingress', 'n', 'p50', 'p99'],
        rows: [
          ['up', f.deliveryUp.length, summarize(f.deliveryUp)?.p50 ?? null, summarize(f.deliveryUp)?.p99 ?? null],
          ['down (connection refused)', f.deliveryDown.length, summarize(f.deliveryDown)?.p50 ?? null, summarize(f.deliveryDown)?.p99 ?? null],
        ],
      },
      {
        title: 'Ingress throughput, one watcher holding every account\'s IDLE session, fetcher stopped (64 requests in flight)',
        columns: ['notifications per request', 'notifications', 'per s (wall)', 'per watcher CPU-second', 'not 202', 'load average'],
        rows: [f.throughput, f.throughputBatched].map((t) => [t.perRequest, t.notifications, t.perS, t.perWatcherCpuS, t.failed, t.load]),
      },
    );
    ctx.distributions['notify ingress'] = f.ingress;
    r.notes.push(
      `Floor: the shipped Lua script (deploy/dovecot/pushmail-notify.lua) posting to a bare HTTP server on a Dovecot configured the same way, 50 users; negative values are notifications received before the LMTP 250 (the request runs inside the delivery). IDLE floor: bare IMAP clients IDLE-ing on those 50 users at the same time. Ingress: ${p.rate} msg/s over ${p.accounts} accounts for ${seconds} s, each account's IDLE session open so IDLE races the ingress; only deliveries whose recipient got a 2xx after DATA count as sent (${f.rejected} did not). First seen (fetcher metric): ${f.firstSeen || 'not exported'}. Fetcher: ${f.fetcherNotes || 'no pool metrics'}. App CPU over the deliveries (share of one core): ${f.appCpu}; event-loop delay over them (p50 / p99 / max from prom-client's monitor, whose 10 ms interval is in each figure: 10.2 means 0.2 ms late): ${f.loopDelays}; notifications the script logged as failed (no 202 within its 200 ms): ${f.notifyFailures}; the ingress's answer to a lone notification every 100 ms meanwhile, timed by the bench: ${fmt(f.answerMs)}; load average ${f.load} at the end of the phase.`,
      `Throughput is the issue's measure: single-notification requests (what the script sends for a lone delivery) to one watcher, the load generator on the same 2 cores; per watcher CPU-second says what one core of the watcher takes. The EmailEngine figure is a constant measured earlier on this machine's Dovecot (research/peers.md), not in this run.`,
    );
  });
  run.done();
}

/**
 * The ingress alone, without IMAP: one built watcher (leasing no account, so no IMAP session costs
 * anything), `accounts` accounts in the index, `total` notifications one to a request, then 50 to
 * a request. Reports notifications/s and notifications per CPU-second of the watcher, which on a
 * loaded machine says more than wall-clock time.
 */
export async function notifyThroughput(accounts: number, total: number): Promise<void> {
  const cleanup = new Cleanup();
  try {
    const secretKey = randomBytes(32).toString('base64');
    const redis = await startRedis();
    cleanup.add('Redis', () => redis.dispose());
    const stores = testStores(redis.url, secretKey);
    cleanup.add('stores', () => stores.close());
    const emails = Array.from({ length: accounts }, (_, i) => userName('tp', i));
    await eachLimited(emails, 32, async (email) => {
      const server = { host: 'imap.bench.test', port: 143, secure: false, user: email, pass: PASSWORD };
      await stores.accounts.create({ userId: 'notify-tp', email, imap: server, smtp: server, mailboxes: ['INBOX'] });
    });
    const sources = JSON.stringify([{ name: 'bench', secret: SECRET, imapHosts: ['imap.bench.test'] }]);
    // WATCHER_NODE_OPTIONS reaches the watcher: `--require bench/lib/cpu-profile-preload.cjs` profiles the
    // ingress (`--cpu-prof` itself is not allowed in NODE_OPTIONS).
    const watcher = await AppProcess.start('watcher', { ...appEnv(redis.url, secretKey), NOTIFY_SOURCES: sources, WATCHER_MAX_ACCOUNTS: '1', NODE_OPTIONS: process.env.WATCHER_NODE_OPTIONS, BENCH_CPU_PROFILE_DIR: process.env.BENCH_CPU_PROFILE_DIR }, { waitReady: false });
    cleanup.add('watcher', () => watcher.stop());
    const url = new URL(`${watcher.url}/api/notify/dovecot`);
    await measureThroughput(url, watcher.pid!, emails, 1000, 1, 10_000_000); // warm-up: JIT, connections
    console.log(`ingress: ${fmtThroughput(await measureThroughput(url, watcher.pid!, emails, total, 1, 1))}`);
    console.log(`ingress: ${fmtThroughput(await measureThroughput(url, watcher.pid!, emails, total, 50, 20_000_000))}`);
  } finally {
    await cleanup.run();
  }
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
