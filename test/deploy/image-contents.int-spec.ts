import { AppName, AppProcess, REPO_ROOT, TestRedis, testEnv, waitFor } from '@pushmail/testing';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';

const programs = ['watcher', 'fetcher', 'gateway', 'cli'] as const;
/** Every bundle a process loads: each app's main.js, and the fetcher's parser-thread entry. */
const bundles = [...programs.map((app) => `${app}/main.js`), 'fetcher/parse-worker.js'];
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
/** Loaded by Nest at run time by name (not visible in the bundle) and needed in the image. */
const RUNTIME_LOADED = ['@nestjs/platform-express', 'reflect-metadata', 'rxjs'];

describe('the production image holds what the built apps load', () => {
  it.each(bundles)('dist/apps/%s requires only Node built-ins and production dependencies', (bundle) => {
    const file = join(REPO_ROOT, 'dist/apps', bundle);
    expect(existsSync(file)).toBe(true);
    const code = readFileSync(file, 'utf8');
    const requested = [...code.matchAll(/\brequire\("([^"./][^"]*)"\)/g)].map((m) => m[1]);
    const packages = [...new Set(requested.map((r) => (r.startsWith('@') ? r.split('/').slice(0, 2).join('/') : r.split('/')[0])))];
    const builtins = new Set(builtinModules);
    const outside = packages.filter((p) => !p.startsWith('node:') && !builtins.has(p) && !(p in pkg.dependencies));
    // The Dockerfile installs with --omit=dev: a devDependency required here would crash the image.
    expect(outside).toEqual([]);
    expect(packages.length).toBeGreaterThan(2);
  });

  it('packages Nest loads by name are production dependencies', () => {
    for (const p of RUNTIME_LOADED) expect(Object.keys(pkg.dependencies)).toContain(p);
  });
});

describe('Redis eviction policy', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await TestRedis.start({ maxmemoryPolicy: 'allkeys-lru' });
  });
  afterAll(() => redis?.dispose());

  it.each(['watcher', 'fetcher', 'gateway'] as AppName[])('%s reports a policy other than noeviction loudly at startup, and still runs', async (app) => {
    const proc = await AppProcess.start(app, testEnv(redis.url, { LOG_LEVEL: 'warn' }), { waitReady: false });
    try {
      await waitFor(() => proc.logs().includes('maxmemory-policy'), 10_000, 'the eviction warning', 50);
      const line = proc.logs().split('\n').find((l) => l.includes('maxmemory-policy'))!;
      expect(JSON.parse(line)).toEqual(expect.objectContaining({ level: 'error', policy: 'allkeys-lru' }));
      expect(line).toMatch(/noeviction/);
      expect((await fetch(`${proc.url}/health/live`)).status).toBe(200);
    } finally {
      await proc.stop();
    }
  });
});
