import { AppName, AppProcess, TestRedis, builtAppPath, testEnv } from '@pushmail/testing';
import { spawnSync } from 'node:child_process';

const apps: AppName[] = ['watcher', 'fetcher', 'gateway'];

describe('built apps boot, answer health, and stop on SIGTERM', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start();
  });
  afterAll(() => redis?.dispose());

  it.each(apps)('%s starts from dist, is live, and exits 0 on SIGTERM', async (app) => {
    const proc = await AppProcess.start(app, testEnv(redis.url));
    const live = await fetch(`${proc.url}/health/live`);
    expect(live.status).toBe(200);
    const metrics = await (await fetch(`${proc.url}/metrics`)).text();
    expect(metrics).toContain('# TYPE');
    await proc.stop('SIGTERM');
    expect(proc.child.exitCode).toBe(0);
  });

  it.each(apps)('%s without REDIS_URL exits non-zero naming REDIS_URL', (app) => {
    const env = testEnv(redis.url, { REDIS_URL: undefined });
    const result = spawnSync(process.execPath, [builtAppPath(app)], { env: { PATH: process.env.PATH, ...env } as NodeJS.ProcessEnv, encoding: 'utf8', timeout: 20_000 });
    expect(result.status).not.toBe(0);
    expect(result.status).not.toBeNull();
    expect(result.stderr).toContain('REDIS_URL');
  });

  it.each(apps)('%s given both REDIS_URL and REDIS_SENTINELS exits non-zero naming both', (app) => {
    const env = testEnv(redis.url, { REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'pm' });
    const result = spawnSync(process.execPath, [builtAppPath(app)], { env: { PATH: process.env.PATH, ...env } as NodeJS.ProcessEnv, encoding: 'utf8', timeout: 20_000 });
    expect(result.status).not.toBe(0);
    expect(result.status).not.toBeNull();
    expect(result.stderr).toMatch(/REDIS_URL:.*exactly one/);
    expect(result.stderr).toMatch(/REDIS_SENTINELS:.*exactly one/);
  });
});
