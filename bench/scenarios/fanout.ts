import { AppProcess, TestRedis, testStores } from '@pushmail/testing';
import { seedAccounts } from '../lib/accounts';
import { now, pollUntil, sleep } from '../lib/clock';
import { appBuilt, appEnv, startRedis, userName } from '../lib/infra';
import { clientToken } from '../lib/jwt';
import { MetricsSnapshot, scrape } from '../lib/prom';
import { GcProbe, kb, mb } from '../lib/rss';
import { ScenarioRun, atMost, judged } from '../lib/scenario';
import { stagesTable } from '../lib/stages';
import { summarize } from '../lib/stats';
import { BenchContext, NotRun } from '../lib/types';
import { WorkerProcess } from '../lib/worker';
import { ReceivedEvent } from '../workers/sockets';
import { appTuning } from './tuning';

/**
 * Gateway fan-out without IMAP: events appended straight to the event log at a fixed rate, pushed
 * through N gateway processes (Redis adapter) to one socket client per account.
 */
export async function fanoutScenario(ctx: BenchContext): Promise<void> {
  const { p, log } = ctx;
  const run = new ScenarioRun(ctx, 'gateway-fanout', { clients: p.fanoutClients, gateways: p.fanoutGateways, rate: p.fanoutRate, durationS: p.fanoutDurationS });
  let redis: TestRedis | undefined;
  let stores: ReturnType<typeof testStores> | undefined;
  const gateways: AppProcess[] = [];
  const workers: WorkerProcess[] = [];
  let gc: GcProbe | undefined;
  try {
    await run.step('fan-out', async (r) => {
      if (!appBuilt('gateway')) throw new NotRun('dist/apps/gateway is not built');
      redis = await startRedis();
      stores = testStores(redis.url, ctx.secretKey);
      log(`fan-out: ${p.fanoutClients} accounts, ${p.fanoutGateways} gateways`);
      // Accounts must exist (ownership is checked on subscribe); no IMAP is used here.
      const accounts = await seedAccounts(stores, Array.from({ length: p.fanoutClients }, (_, i) => userName('fan', i)), 9, 'fu');
      gc = await GcProbe.start();
      const sockets: WorkerProcess[] = [];
      for (let i = 0; i < p.socketWorkers; i++) {
        const w = await WorkerProcess.start('sockets', `fan-sockets-${i}`);
        workers.push(w);
        sockets.push(w);
      }
      const perGateway = p.fanoutClients / p.fanoutGateways;
      // The floor: a bare Socket.IO server with the same adapter and as many clients as one gateway gets.
      const floorServer = await WorkerProcess.start('sio-server', 'sio-server', ['--expose-gc']);
      workers.push(floorServer);
      const { url: floorUrl } = await floorServer.call<{ url: string }>('start', { redisUrl: redis.url });
      const floorIdle = await floorServer.call<{ rss: number; heap: number }>('memory');
      const floorSpecs = accounts.slice(0, perGateway).map((a) => ({ url: floorUrl, token: 'none', accountId: a.id }));
      await Promise.all(sockets.map((w, i) => w.call('connect', { clients: floorSpecs.filter((_, j) => j % sockets.length === i), timeoutMs: 60_000 })));
      const floorLoaded = await floorServer.call<{ rss: number; heap: number }>('memory');
      await Promise.all(sockets.map((w) => w.call('close')));
      await floorServer.stop();
      const floorPerClient = { rss: (floorLoaded.rss - floorIdle.rss) / perGateway, heap: (floorLoaded.heap - floorIdle.heap) / perGateway };
      const inspectPorts: number[] = [];
      for (let i = 0; i < p.fanoutGateways; i++) {
        const inspect = await GcProbe.inspectEnv();
        inspectPorts.push(inspect.port);
        gateways.push(await AppProcess.start('gateway', appEnv(redis.url, ctx.secretKey, { AUTH_JWT_SECRET: ctx.jwtSecret, INSTANCE_ID: `bench-g${i}`, ...appTuning.gateway, ...inspect.env })));
      }
      await sleep(1000);
      const memory = () => Promise.all(gateways.map((g, i) => gc!.measure(g.pid, inspectPorts[i], g.url, ctx.quick ? 5000 : 15_000)));
      const base = await memory();
      const appender = await WorkerProcess.start('appender');
      workers.push(appender);
      await appender.call('init', { redisUrl: redis.url, secretKey: ctx.secretKey });
      // Client i connects to gateway i mod N, so each gateway holds an equal share.
      const specs = accounts.map((a, i) => ({ url: gateways[i % gateways.length].url, token: clientToken(ctx.jwtSecret, a.userId), accountId: a.id }));
      const t0 = now();
      const connects = await Promise.all(sockets.map((w, i) => w.call<{ connected: number; failed: number; errors: string[] }>('connect', { clients: specs.filter((_, j) => j % sockets.length === i), timeoutMs: 60_000 })));
      const connected = connects.reduce((s, c) => s + c.connected, 0);
      const errors = connects.flatMap((c) => c.errors);
      log(`fan-out: ${connected}/${specs.length} clients subscribed in ${Math.round((now() - t0) / 100) / 10} s`);
      if (!connected) throw new NotRun(`no socket client could subscribe (apps/gateway not implemented yet?): ${errors[0] ?? ''}`);
      if (connected < specs.length) throw new Error(`${specs.length - connected} clients could not subscribe: ${errors[0]}`);
      const loaded = await memory();
      const perClient = loaded.map((l, i) => (l.rss - base[i].rss) / (p.fanoutClients / gateways.length));
      const perClientBeforeGc = loaded.map((l, i) => (l.rssBeforeGc - base[i].rssBeforeGc) / (p.fanoutClients / gateways.length));
      const before = new Map<string, MetricsSnapshot>(await Promise.all(gateways.map(async (g, i) => [`gateway-${i}`, await scrape(g.url)] as [string, MetricsSnapshot])));

      log(`fan-out: ${p.fanoutRate} events/s for ${p.fanoutDurationS} s`);
      const { appended } = await appender.call<{ appended: number }>('run', { accountIds: accounts.map((a) => a.id), rate: p.fanoutRate, durationMs: p.fanoutDurationS * 1000 });
      await pollUntil(async () => (await Promise.all(sockets.map((w) => w.call<number>('count')))).reduce((s, n) => s + n, 0) >= appended || undefined, 10_000, 100);
      const events = (await Promise.all(sockets.map((w) => w.call<ReceivedEvent[]>('take')))).flat();
      const after = new Map<string, MetricsSnapshot>(await Promise.all(gateways.map(async (g, i) => [`gateway-${i}`, await scrape(g.url)] as [string, MetricsSnapshot])));
      const latencies = events.map((e) => e.at - Number(/t0=([\d.]+)/.exec(e.subject)?.[1] ?? NaN)).filter((v) => Number.isFinite(v));
      ctx.distributions.fanout = latencies;
      const s = summarize(latencies);
      if (!s) throw new Error('no event reached a client');
      const maxPerClient = Math.max(...perClient);
      Object.assign(r.figures, { p50: s.p50, p95: s.p95, p99: s.p99, max: s.max, missed: appended - events.length, kbPerClient: kb(maxPerClient), kbPerClientBeforeGc: kb(Math.max(...perClientBeforeGc)) });
      r.tables.push({ title: 'event appended → message.new at the client (ms)', columns: ['events', 'received', 'p50', 'p95', 'p99', 'max'], rows: [[appended, events.length, s.p50, s.p95, s.p99, s.max]] });
      r.tables.push({
        title: 'gateway RSS at steady state before a forced GC, and RSS and V8 heap in use after two forced full GCs',
        columns: ['gateway', 'RSS idle before GC', `RSS with ${p.fanoutClients / gateways.length} clients before GC`, 'RSS per client before GC', 'RSS idle', `RSS with ${p.fanoutClients / gateways.length} clients`, 'RSS per client', 'heap idle', 'heap loaded', 'heap per client'],
        rows: gateways.map((_, i) => [
          `#${i + 1}`,
          `${mb(base[i].rssBeforeGc)} MB`,
          `${mb(loaded[i].rssBeforeGc)} MB`,
          `${kb(perClientBeforeGc[i])} KB`,
          `${mb(base[i].rss)} MB`,
          `${mb(loaded[i].rss)} MB`,
          `${kb(perClient[i])} KB`,
          `${mb(base[i].heap)} MB`,
          `${mb(loaded[i].heap)} MB`,
          `${kb((loaded[i].heap - base[i].heap) / (p.fanoutClients / gateways.length))} KB`,
        ]).concat([['bare Socket.IO + Redis adapter (floor; after GC only)', '—', '—', '—', `${mb(floorIdle.rss)} MB`, `${mb(floorLoaded.rss)} MB`, `${kb(floorPerClient.rss)} KB`, `${mb(floorIdle.heap)} MB`, `${mb(floorLoaded.heap)} MB`, `${kb(floorPerClient.heap)} KB`]]),
      });
      const stages = stagesTable(before, after);
      if (stages.rows.length) r.tables.push({ ...stages, title: 'the gateways’ own histograms (ms)' });
      r.targets.push(atMost('emit p99 (appended → received)', s.p99, 10, 'ms'));
      r.targets.push(judged(ctx, atMost('gateway RSS per client', kb(maxPerClient), 25, 'KB')));
      r.figures.floorKbPerClient = kb(floorPerClient.rss);
      r.notes.push(`A bare Socket.IO server with the same Redis adapter, holding ${perGateway} websocket clients that each joined one room, costs ${kb(floorPerClient.rss)} KB of RSS (${kb(floorPerClient.heap)} KB of heap) per client: that part is Socket.IO's, the rest the gateway's.`);
      r.notes.push('Latency is measured by the receiving client against the time stamped just before the append call (shared clock), so it includes the Redis round trip and the client process’s event loop.');
    });
  } finally {
    run.done();
    await gc?.stop().catch(() => undefined);
    await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
    await Promise.all(gateways.map((g) => g.stop('SIGTERM', 5000).catch(() => undefined)));
    await stores?.close().catch(() => undefined);
    await redis?.dispose().catch(() => undefined);
  }
}
