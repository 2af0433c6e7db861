import { parseEnv } from '@pushmail/config';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SAMPLE_SECRET_VALUES, appSchemas, checkAppEnv, deployedApps, entrypointApps } from './support/app-contract';
import { ComposeFile, composeValidator, durationMs, interpolate, loadCompose } from './support/compose';
import { repoRoot } from './support/kustomize';

/** What an operator puts in .env (docs/operations.md). */
const dotEnv = { PUSHMAIL_SECRET_KEY: SAMPLE_SECRET_VALUES.PUSHMAIL_SECRET_KEY, AUTH_JWT_SECRET: SAMPLE_SECRET_VALUES.AUTH_JWT_SECRET, ADMIN_TOKEN: SAMPLE_SECRET_VALUES.ADMIN_TOKEN };

describe('docker-compose.yml', () => {
  const validate = composeValidator();
  const { compose, errors } = loadCompose(dotEnv);

  it('interpolates with only the documented secrets set', () => {
    expect(errors).toEqual([]);
  });

  it('validates against the compose-spec JSON schema', () => {
    expect(validate(compose)).toEqual([]);
  });

  it('refuses to start without the secrets, naming each', () => {
    const missing = loadCompose({}).errors.join('\n');
    for (const name of ['PUSHMAIL_SECRET_KEY', 'AUTH_JWT_SECRET', 'ADMIN_TOKEN']) expect(missing).toContain(name);
  });

  it('redis: AOF on and noeviction', () => {
    const command = compose.services.redis.command ?? [];
    const flag = (name: string) => command[command.indexOf(name) + 1];
    expect(flag('--appendonly')).toBe('yes');
    expect(flag('--maxmemory-policy')).toBe('noeviction');
  });

  it('two watchers, one fetcher, one gateway on port 3000, and a healthcheck on every service', () => {
    expect(compose.services.watcher.deploy?.replicas).toBe(2);
    expect(compose.services.fetcher.deploy?.replicas ?? 1).toBe(1);
    expect(compose.services.gateway.ports).toContain('3000:3000');
    for (const [name, service] of Object.entries(compose.services)) expect({ name, has: (service.healthcheck?.test?.length ?? 0) > 1 }).toEqual({ name, has: true });
  });

  it('the demo profile adds Dovecot and the mail generator, and nothing else is in a profile', () => {
    const profiled = Object.entries(compose.services).filter(([, s]) => s.profiles?.length).map(([name, s]) => [name, s.profiles]);
    expect(profiled).toEqual([
      ['dovecot', ['demo']],
      ['mailgen', ['demo']],
    ]);
  });

  it.each(deployedApps)('%s: same image, app argument, environment, health port and stop grace period as the app reads them', (app) => {
    const service = compose.services[app];
    expect(service.build).toBe('.');
    expect(service.image).toBe(compose.services.gateway.image);
    expect(service.command).toEqual([app]);
    expect(entrypointApps()).toContain(app);
    const env = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)]));
    expect(checkAppEnv(app, env, `compose/${app}`)).toEqual([]);
    const parsed = parseEnv(appSchemas[app], env);
    const url = /fetch\('(http:\/\/127\.0\.0\.1:(\d+)(\/health\/(?:ready|live)))'\)/.exec(service.healthcheck!.test.join(' '));
    expect(Number(url?.[2])).toBe(parsed.PORT);
    expect(durationMs(service.stop_grace_period ?? '10s')).toBeGreaterThanOrEqual(parsed.SHUTDOWN_TIMEOUT_MS + 5000);
    expect(service.depends_on?.redis?.condition).toBe('service_healthy');
  });

  it('the demo generator gets the gateway\'s admin token and the gateway address it listens on', () => {
    const mailgen = compose.services.mailgen.environment!;
    expect(mailgen.ADMIN_TOKEN).toBe(compose.services.gateway.environment!.ADMIN_TOKEN);
    expect(mailgen.AUTH_JWT_SECRET).toBe(compose.services.gateway.environment!.AUTH_JWT_SECRET);
    expect(new URL(mailgen.GATEWAY_URL).port).toBe(compose.services.gateway.environment!.PORT);
    expect(compose.services.mailgen.volumes).toContain('./deploy/demo:/app/demo:ro');
  });

  describe('the checks catch real mistakes', () => {
    const mutate = (change: (c: ComposeFile) => void) => {
      const copy = structuredClone(compose);
      change(copy);
      return validate(copy).join('\n');
    };
    it('a string replica count', () => {
      expect(mutate((c) => ((c.services.watcher.deploy as Record<string, unknown>).replicas = 'two'))).toMatch(/\/services\/watcher\/deploy\/replicas must be integer/);
    });
    it('a misspelt key', () => {
      expect(
        mutate((c) => {
          const s = c.services.fetcher as Record<string, unknown>;
          s.helthcheck = s.healthcheck;
          delete s.healthcheck;
        }),
      ).toMatch(/\/services\/fetcher must NOT have additional properties \(helthcheck\)/);
    });
    it('a malformed duration', () => {
      expect(mutate((c) => (c.services.gateway.stop_grace_period = 'thirty seconds'))).toMatch(/stop_grace_period must match format "duration"/);
    });
    it('interpolation: default, required and escaped variables', () => {
      expect(interpolate('a=${A:-x} b=${B:?need B} c=$$C', {}).errors).toEqual(['B: need B']);
      expect(interpolate('a=${A:-x} b=${B:?need B} c=$$C', { A: 'y', B: 'z' }).text).toBe('a=y b=z c=$C');
    });
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
  const lines = text.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
  const stages: Array<{ name: string; lines: string[] }> = [];
  for (const line of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) stages.push({ name: from[2] ?? String(stages.length), lines: [] });
    stages.at(-1)?.lines.push(line);
  }
  const runtime = stages.at(-1)!;
  const instruction = (stage: { lines: string[] }, name: string) => stage.lines.filter((l) => l.toUpperCase().startsWith(name + ' '));

  it('is multi-stage on a current Node LTS slim image', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    expect(/^ARG NODE_IMAGE=node:(22|24)-slim$/m.test(text)).toBe(true);
    for (const stage of stages) expect(stage.lines[0]).toMatch(/^FROM \$\{NODE_IMAGE\}/);
  });

  it('ships production dependencies only, and the build output', () => {
    const deps = stages.find((s) => s.name === 'deps')!;
    expect(instruction(deps, 'RUN').join(' ')).toMatch(/npm ci --omit=dev/);
    const copies = instruction(runtime, 'COPY');
    expect(copies).toContain('COPY --from=deps /app/node_modules ./node_modules');
    expect(copies).toContain('COPY --from=build /app/dist ./dist');
    expect(copies.filter((c) => c.includes('--from=build'))).toHaveLength(1);
  });

  it('runs as a non-root user', () => {
    const user = instruction(runtime, 'USER').at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/USER\s+(root|0)(:|$)/);
  });

  it('the entrypoint selects an app that the build produces, gateway by default', () => {
    const entrypoint = JSON.parse(instruction(runtime, 'ENTRYPOINT')[0].slice('ENTRYPOINT'.length)) as string[];
    expect(instruction(runtime, 'COPY')).toContain(`COPY deploy/docker/entrypoint.sh ${entrypoint[0]}`);
    const cmd = JSON.parse(instruction(runtime, 'CMD')[0].slice('CMD'.length)) as string[];
    expect(cmd).toEqual(['gateway']);
    const nest = JSON.parse(readFileSync(join(repoRoot, 'nest-cli.json'), 'utf8')) as { projects: Record<string, { type: string }> };
    const built = Object.entries(nest.projects).filter(([, p]) => p.type === 'application').map(([name]) => name);
    const buildScript = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.build;
    for (const app of entrypointApps()) {
      expect(built).toContain(app);
      expect(buildScript).toContain(`nest build ${app}`);
    }
    for (const app of deployedApps) expect(entrypointApps()).toContain(app);
    // The port each app listens on by default is exposed.
    const exposed = instruction(runtime, 'EXPOSE')[0].split(/\s+/).slice(1).map(Number);
    for (const app of deployedApps) expect(exposed).toContain(parseEnv(appSchemas[app], SAMPLE_SECRET_VALUES).PORT);
  });

  it('.dockerignore keeps secrets, VCS data and local builds out of the build context', () => {
    const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const entry of ['.git', 'node_modules', 'dist', '.env']) expect(ignored).toContain(entry);
  });
});
