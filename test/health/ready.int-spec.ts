import { AppName, AppProcess, TestRedis, sleep, testEnv, waitFor } from '@pushmail/testing';
import { get } from 'node:http';

jest.setTimeout(120_000);

const APPS: AppName[] = ['watcher', 'fetcher', 'gateway'];

/**
 * One probe on a fresh connection, as the kubelet and load balancers probe: a kept-alive connection
 * would also hold the app's HTTP server open while it tries to close.
 */
function ready(proc: AppProcess, path = '/health/ready'): Promise<{ status: number; body: { checks?: Record<string, { ok: boolean }> } }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port: proc.port, path, agent: false, timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        let body = {};
        try {
          body = JSON.parse(text) as object;
        } catch {
          // not JSON: only the status matters then
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('probe timed out')));
    req.on('error', reject);
  });
}

/**
 * Readiness is what a load balancer and Kubernetes route by: every app (the built one, as deployed)
 * must say 503 while it cannot reach Redis and from the moment it starts shutting down, and 200
 * again once Redis is back. Liveness stays 200 while Redis is away: restarting the app cannot help.
 */
describe('/health/ready of every app', () => {
  let redis: TestRedis;
  const procs = new Map<AppName, AppProcess>();

  beforeAll(async () => {
    redis = await TestRedis.start({ appendonly: true });
    for (const app of APPS) procs.set(app, await AppProcess.start(app, testEnv(redis.url, { INSTANCE_ID: `ready-${app}`, SHUTDOWN_DRAIN_MS: '2000' })));
  }, 180_000);

  afterAll(async () => {
    await Promise.all([...procs.values()].map((p) => p.stop('SIGKILL')));
    await redis?.dispose();
  });

  it('answers 503 naming redis while Redis is down, stays live, and 200 once it is back', async () => {
    for (const proc of procs.values()) expect((await ready(proc)).status).toBe(200);
    await redis.stop('SIGKILL');
    try {
      for (const [app, proc] of procs) {
        const down = await waitFor(async () => {
          const r = await ready(proc);
          return r.status === 503 && r;
        }, 15_000, `${app} /health/ready to answer 503`, 100);
        expect([app, down.body.checks?.redis?.ok]).toEqual([app, false]);
        expect([app, (await ready(proc, '/health/live')).status]).toEqual([app, 200]);
      }
    } finally {
      await redis.startAgain();
    }
    for (const [app, proc] of procs) await waitFor(async () => (await ready(proc)).status === 200, 30_000, `${app} ready again`, 100);
  });

  it.each(APPS)('%s answers 503 (or no longer accepts connections) from the moment it is told to shut down', async (app) => {
    const proc = procs.get(app)!;
    expect((await ready(proc)).status).toBe(200);
    const answers: Array<number | 'refused'> = [];
    const exited = proc.exited();
    let done = false;
    void exited.then(() => {
      done = true;
    });
    proc.child.kill('SIGTERM');
    while (!done) {
      answers.push(await ready(proc).then((r) => r.status, () => 'refused' as const));
      await sleep(5);
    }
    procs.delete(app);
    process.stdout.write(`${app} after SIGTERM: ${JSON.stringify(answers.slice(0, 5))}… (${answers.length} probes)\n`);
    expect(await exited).toBe(0);
    expect(answers.filter((a) => a === 200)).toEqual([]);
  });
});
