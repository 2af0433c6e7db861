import { redisKeys } from '@pushmail/contracts';
import { AppProcess, TestDovecot, TestRedis, testStores } from '@pushmail/testing';
import { appendTimesSince, seedAccounts, waitAllConnected } from '../lib/accounts';
import { pollUntil } from '../lib/clock';
import { Delivery } from '../lib/correlate';
import { appBuilt, appEnv, makeUsers, startDovecot, startRedis, userName } from '../lib/infra';
import { ScenarioRun, atMost } from '../lib/scenario';
import { round1 } from '../lib/stats';
import { BenchContext, NotRun } from '../lib/types';
import { WorkerProcess } from '../lib/worker';
import { LEASE_TTL_MS, appTuning } from './tuning';

/**
 * Failover: N watchers share the accounts; one is killed with SIGKILL (no lease release), and one
 * message is delivered at once to every account it held. Done when each has its event appended.
 */
export async function failoverScenario(ctx: BenchContext): Promise<void> {
  const { p, log } = ctx;
  const run = new ScenarioRun(ctx, 'failover', { watchers: p.failoverWatchers, accounts: p.failoverAccounts, leaseTtlMs: LEASE_TTL_MS });
  let redis: TestRedis | undefined;
  let dovecot: TestDovecot | undefined;
  let stores: ReturnType<typeof testStores> | undefined;
  const apps: AppProcess[] = [];
  const workers: WorkerProcess[] = [];
  try {
    await run.step('failover', async (r) => {
      if (!appBuilt('watcher') || !appBuilt('fetcher')) throw new NotRun('dist/apps/watcher or dist/apps/fetcher is not built');
      const emails = Array.from({ length: p.failoverAccounts }, (_, i) => userName('fo', i));
      [redis, dovecot] = await Promise.all([startRedis(), startDovecot(makeUsers('fo', p.failoverAccounts))]);
      stores = testStores(redis.url, ctx.secretKey);
      const accounts = await seedAccounts(stores, emails, dovecot.imapPort);
      const ids = accounts.map((a) => a.id);
      const env = (extra: Record<string, string>) => appEnv(redis!.url, ctx.secretKey, { ...extra });
      log(`failover: ${p.failoverWatchers} watchers, ${ids.length} accounts`);
      const watchers: AppProcess[] = [];
      for (let i = 0; i < p.failoverWatchers; i++) {
        const w = await AppProcess.start('watcher', env({ ...appTuning.watcher, LEASE_TTL_MS: String(LEASE_TTL_MS), INSTANCE_ID: `bench-fo-w${i}` }), { waitReady: false });
        apps.push(w);
        watchers.push(w);
      }
      apps.push(await AppProcess.start('fetcher', env({ ...appTuning.fetcher, INSTANCE_ID: 'bench-fo-f' })));
      const { at, counts } = await waitAllConnected(stores, ids, 60_000, 200);
      if (!at) {
        if (!counts.connected) throw new NotRun('the watchers marked no account connected (apps/watcher not implemented yet?)');
        throw new Error(`not all accounts connected: ${JSON.stringify(counts)}`);
      }
      // Let the membership settle, so leases are spread over all watchers before the kill.
      const victim = watchers[0];
      const victimName = 'bench-fo-w0';
      const leaseOwners = async () => {
        const pipe = stores!.redis.client.pipeline();
        for (const id of ids) pipe.get(redisKeys.lease(id));
        return ((await pipe.exec()) ?? []).map(([, v]) => String(v ?? ''));
      };
      const spread = await pollUntil(async () => {
        const owners = await leaseOwners();
        const held = owners.filter((o) => o.includes(victimName)).length;
        return held > 0 && owners.every((o) => o) ? owners : undefined;
      }, 30_000, 500);
      const owners = spread ?? (await leaseOwners());
      let orphans = accounts.filter((_, i) => owners[i].includes(victimName));
      if (!orphans.length) {
        r.notes.push('Lease values do not name their owner: a message was delivered to every account instead of only the orphaned ones.');
        orphans = accounts;
      }
      const perWatcher = watchers.map((_, i) => owners.filter((o) => o.includes(`bench-fo-w${i}`)).length);
      const deliverer = await WorkerProcess.start('deliver');
      workers.push(deliverer);
      await deliverer.call('init', { lmtpPort: dovecot!.lmtpPort, connections: 4 });

      log(`failover: kill -9 ${victimName} (holding ${orphans.length} accounts), deliver to each`);
      const killedAt = Date.now();
      await victim.kill9();
      const deliveries = await deliverer.call<Delivery[]>('burst', { plan: orphans.map((a, i) => ({ user: a.email, key: `fo-${i}` })), concurrency: 8 });
      const delivered = deliveries.filter((d) => !d.error).length;
      const orphanIds = orphans.map((a) => a.id);
      const deadline = LEASE_TTL_MS + 60_000;
      await pollUntil(async () => {
        const pipe = stores!.redis.client.pipeline();
        for (const id of orphanIds) pipe.xlen(redisKeys.eventLog(id));
        const lens = ((await pipe.exec()) ?? []).map(([, n]) => Number(n));
        return lens.every((n) => n >= 1) || undefined;
      }, deadline, 100);
      const times: number[] = [];
      for (const id of orphanIds) {
        const [t] = await appendTimesSince(stores!, [id], killedAt);
        if (t) times.push(t);
      }
      const lastS = times.length ? round1((Math.max(...times) - killedAt) / 1000) : null;
      const firstS = times.length ? round1((Math.min(...times) - killedAt) / 1000) : null;
      Object.assign(r.figures, { orphans: orphans.length, delivered: times.length, lastDeliverySeconds: lastS, firstDeliverySeconds: firstS });
      r.tables.push({
        columns: ['watchers', 'accounts per watcher', 'orphaned', 'delivered (event appended)', 'first', 'last', 'lease TTL'],
        rows: [[watchers.length, perWatcher.join(' / '), orphans.length, `${times.length} of ${delivered}`, firstS === null ? '—' : `${firstS} s`, lastS === null ? '—' : `${lastS} s`, `${LEASE_TTL_MS / 1000} s`]],
      });
      r.targets.push(atMost('orphaned accounts not delivered', orphans.length - times.length, 0, 'accounts', '0'));
      r.targets.push(atMost('kill → last delivery appended', lastS, LEASE_TTL_MS / 1000 + 5, 's', `≤ TTL + 5 s = ${LEASE_TTL_MS / 1000 + 5} s`));
    });
  } finally {
    run.done();
    await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
    await Promise.all(apps.map((a) => a.stop('SIGTERM', 5000).catch(() => undefined)));
    await stores?.close().catch(() => undefined);
    await Promise.all([dovecot?.dispose(), redis?.dispose()].map((pr) => pr?.catch(() => undefined)));
  }
}
