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
        await stores.accounts.create({ userId: user, email: user, imap: dovecot.imapSettings(user), smtp: dovecot.imapSettings(user), mailboxes: ['INBOX'] });
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

  it(`hands the terminated watcher's accounts over in under 3 s and exits 0 within the ${grace} s grace period`, async () => {
    // Production lease TTL (the default): a hand-off faster than this cannot be lease expiry.
    const env = testEnv(redis.url, { LEASE_TTL_MS: '10000' });
    const [old1, old2] = [await AppProcess.start('watcher', env), await AppProcess.start('watcher', env)];
    procs.push(old1, old2);
    await waitFor(async () => (await owned(old1)) + (await owned(old2)) === ACCOUNTS && (await owned(old1)) > 0 && (await owned(old2)) > 0, 30_000, 'two watchers to share all accounts', 100);

    // maxSurge 1: the new pod becomes ready first.
    const surge = await AppProcess.start('watcher', env);
    procs.push(surge);
    await waitFor(async () => (await owned(old1)) + (await owned(old2)) + (await owned(surge)) === ACCOUNTS && (await owned(surge)) > 0, 30_000, 'the new watcher to take its share', 100);
    const moving = await owned(old1);
    expect(moving).toBeGreaterThan(0);

    const sigtermAt = Date.now();
    const exited = old1.exited();
    old1.child.kill('SIGTERM');
    await waitFor(async () => (await owned(old2)) + (await owned(surge)) === ACCOUNTS, 3_000, `the ${moving} accounts of the terminated watcher to move`, 25);
    const handoverMs = Date.now() - sigtermAt;
    expect(handoverMs).toBeLessThan(3_000);

    expect(await exited).toBe(0);
    expect(Date.now() - sigtermAt).toBeLessThan(grace * 1000);
  }, 90_000);
});
