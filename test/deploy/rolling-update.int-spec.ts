import { redisKeys } from '@pushmail/contracts';
import { AppProcess, TestDovecot, TestRedis, testEnv, testStores, waitFor } from '@pushmail/testing';
import { K8sObject, k8sDir, renderOverlay } from './support/kustomize';

const ACCOUNTS = 20;
const users = Object.fromEntries(Array.from({ length: ACCOUNTS }, (_, i) => [`roll${i}@example.test`, `pw${i}`]));

async function owned(proc: AppProcess): Promise<number> {
  const text = await (await fetch(`${proc.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('pushmail_watcher_accounts_owned '));
  return line ? Number(line.split(' ')[1]) : 0;
}

/**
 * A Kubernetes rolling update of the watcher Deployment, step by step with the built app: surge one
 * new watcher, wait for it to be ready, SIGTERM an old one (what the kubelet does). The old one's
 * accounts must move at once (lease release, not lease expiry) and it must exit 0 well inside
 * terminationGracePeriodSeconds, so the kubelet never has to SIGKILL it.
 */
describe('watcher rolling update as Kubernetes performs it', () => {
  let redis: TestRedis;
  let dovecot: TestDovecot;
  const accountIds: string[] = [];
  const procs: AppProcess[] = [];
  const grace = (() => {
    const watcher = renderOverlay(k8sDir('overlays/prod')).objects.find((o: K8sObject) => o.kind === 'Deployment' && o.metadata.name === 'watcher') as K8sObject & { spec: { template: { spec: { terminationGracePeriodSeconds: number } } } };
    return watcher.spec.template.spec.terminationGracePeriodSeconds;
  })();

  beforeAll(async () => {
    redis = await TestRedis.start();
    dovecot = await TestDovecot.start({ users });
    const stores = testStores(redis.url);
    try {
      for (const user of Object.keys(users)) {
        accountIds.push((await stores.accounts.create({ userId: user, email: user, imap: dovecot.imapSettings(user), smtp: dovecot.imapSettings(user), mailboxes: ['INBOX'] })).id);
      }
    } finally {
      await stores.close();
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    await dovecot?.dispose();
    await redis?.dispose();
  }, 60_000);

  it(`releases the terminated watcher's leases so its accounts move at once, and exits 0 on its own (within the ${grace} s grace period)`, async () => {
    // Production lease TTL (the default): a lease still held when the process has exited would stay
    // for 10 s; a released one is gone (or already someone else's).
    const env = (name: string) => testEnv(redis.url, { LEASE_TTL_MS: '10000', INSTANCE_ID: name });
    const [old1, old2] = [await AppProcess.start('watcher', env('old1')), await AppProcess.start('watcher', env('old2'))];
    procs.push(old1, old2);
    await waitFor(async () => (await owned(old1)) + (await owned(old2)) === ACCOUNTS && (await owned(old1)) > 0 && (await owned(old2)) > 0, 30_000, 'two watchers to share all accounts', 100);

    // maxSurge 1: the new pod becomes ready first.
    const surge = await AppProcess.start('watcher', env('surge'));
    procs.push(surge);
    await waitFor(async () => (await owned(old1)) + (await owned(old2)) + (await owned(surge)) === ACCOUNTS && (await owned(surge)) > 0, 30_000, 'the new watcher to take its share', 100);
    const moving = await owned(old1);
    expect(moving).toBeGreaterThan(0);
    // A lease holds `<INSTANCE_ID>.<random>|<fencing token>`.
    const r = redis.client();
    const leaseHolders = async () => (await r.mget(...accountIds.map((id) => redisKeys.lease(id)))).map((v) => v?.split(/[.|]/)[0] ?? null);

    const sigtermAt = Date.now();
    const exited = old1.exited();
    old1.child.kill('SIGTERM');
    // Exit 0 means the watcher finished its own shutdown: past SHUTDOWN_TIMEOUT_MS (+5 s) it exits 1,
    // and both are far inside the grace period, so the kubelet never has to SIGKILL it.
    expect(await exited).toBe(0);
    expect(10_000 + 5_000).toBeLessThan(grace * 1000);
    // The mechanism of an instant hand-over: at exit, not one lease is still old1's.
    expect((await leaseHolders()).filter((holder) => holder === 'old1')).toEqual([]);
    await waitFor(async () => (await owned(old2)) + (await owned(surge)) === ACCOUNTS, 30_000, `the ${moving} accounts of the terminated watcher to move`, 50);
    process.stdout.write(`rolling update: ${moving} accounts moved ${Date.now() - sigtermAt} ms after SIGTERM\n`);
    r.disconnect();
  }, 90_000);
});
