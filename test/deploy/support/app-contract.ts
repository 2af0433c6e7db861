import { parseEnv } from '@pushmail/config';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { cliEnvSchema } from '../../../apps/cli/src/config';
import { fetcherEnvSchema } from '../../../apps/fetcher/src/config';
import { gatewayEnvSchema } from '../../../apps/gateway/src/config';
import { watcherEnvSchema } from '../../../apps/watcher/src/config';
import { repoRoot } from './kustomize';

/**
 * What the apps actually read: their zod env schemas are the one source of truth, and the
 * deployment files are checked against them.
 */
export const appSchemas = {
  watcher: watcherEnvSchema,
  fetcher: fetcherEnvSchema,
  gateway: gatewayEnvSchema,
} as const;
export type DeployedApp = keyof typeof appSchemas;
export const deployedApps = Object.keys(appSchemas) as DeployedApp[];
/** Every program in the image that reads the environment: the apps and the operator CLI. */
export const envSchemas = { ...appSchemas, cli: cliEnvSchema } as const;
export type ImageProgram = keyof typeof envSchemas;

/** Variables a container may set that are not the app's own settings. */
export const RUNTIME_VARIABLES = new Set(['NODE_ENV', 'NODE_OPTIONS', 'TZ', 'HOST']);

export function schemaKeys(app: ImageProgram): string[] {
  return Object.keys(envSchemas[app].shape);
}

export function requiredKeys(app: ImageProgram): string[] {
  const shape = envSchemas[app].shape as Record<string, z.ZodTypeAny>;
  return Object.entries(shape)
    .filter(([, type]) => !type.isOptional())
    .map(([key]) => key);
}

/**
 * Checks one container's effective environment against the app's schema: every variable set
 * must be one the app reads (a typo would be silently ignored), and the whole set must parse,
 * which proves each required variable is there with a valid value.
 */
export function checkAppEnv(app: ImageProgram, env: Record<string, string>, where: string): string[] {
  const known = new Set(schemaKeys(app));
  const problems = Object.keys(env)
    .filter((name) => !known.has(name) && !RUNTIME_VARIABLES.has(name))
    .map((name) => `${where}: sets ${name}, which ${app} does not read (apps/${app}/src/config.ts)`);
  for (const name of requiredKeys(app)) {
    if (!(name in env)) problems.push(`${where}: required variable ${name} is not provided`);
  }
  try {
    parseEnv(envSchemas[app], env);
  } catch (err) {
    problems.push(`${where}: ${(err as Error).message.replace(/\n\s*/g, ' ')}`);
  }
  return problems;
}

/** Valid stand-ins for secrets that are only named (not valued) in the manifests. */
export const SAMPLE_SECRET_VALUES: Record<string, string> = {
  REDIS_URL: 'redis://redis.example:6379/0',
  PUSHMAIL_SECRET_KEY: Buffer.alloc(32, 7).toString('base64'),
  PUSHMAIL_SECRET_KEY_PREVIOUS: '',
  AUTH_JWT_SECRET: 'sample-jwt-secret-0123456789abcdefgh',
  ADMIN_TOKEN: 'sample-admin-token-0123456789',
};

/** The app names the image's entrypoint accepts, read from the script itself. */
export function entrypointApps(): string[] {
  const script = readFileSync(join(repoRoot, 'deploy/docker/entrypoint.sh'), 'utf8');
  const match = /^\s*([a-z|]+)\)\s*$/m.exec(script);
  return match ? match[1].split('|') : [];
}

export function appHasEntry(app: string): boolean {
  return existsSync(join(repoRoot, 'apps', app, 'src/main.ts'));
}
