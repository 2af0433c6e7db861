import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly variables: string[], message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof logLevels)[number];

const intFromEnv = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
export const env = {
  int: (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) => intFromEnv(min, max).default(def),
  bool: (def: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .default(def ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  list: (def: string[]) =>
    z
      .string()
      .default(def.join(','))
      .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean)),
};

/** 32 random bytes, base64: the AES-256-GCM key for stored credentials. */
export const secretKeySchema = z
  .string({ required_error: 'is required (32 random bytes, base64; e.g. `openssl rand -base64 32`)' })
  .refine((v) => Buffer.from(v, 'base64').length === 32, { message: 'must be 32 bytes encoded as base64' });

/** `host:port,host:port`: Sentinel or Cluster seed addresses (an IPv6 address in brackets). */
const redisNodeList = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
  .superRefine((entries, ctx) => {
    if (!entries.length) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must list at least one host:port' });
    for (const entry of entries) {
      if (!parseRedisNode(entry)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${entry}" is not host:port` });
    }
  });

export interface RedisNode {
  host: string;
  port: number;
}

export function parseRedisNode(entry: string): RedisNode | undefined {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: match[1].replace(/^\[|\]$/g, ''), port };
}

/**
 * Where Redis is, one of three ways (exactly one must be set; {@link parseEnv} enforces it, so the
 * schemas stay plain objects whose keys the deploy tests read): a URL, a Sentinel set, or a Cluster.
 */
export const redisEnvShape = {
  REDIS_URL: z
    .string()
    .url('must be a URL such as redis://127.0.0.1:6379/0')
    .refine((v) => /^rediss?:\/\//.test(v), { message: 'must start with redis:// or rediss://' })
    .optional(),
  /** Sentinel addresses; the master's name is REDIS_SENTINEL_NAME. */
  REDIS_SENTINELS: redisNodeList.optional(),
  REDIS_SENTINEL_NAME: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be the master name the sentinels monitor').optional(),
  /** The sentinels' own password (requirepass on the sentinels), when they have one. */
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  /** Redis Cluster seed nodes. Not supported yet: refused at boot (see README). */
  REDIS_CLUSTER_NODES: redisNodeList.optional(),
  /** Password of the Redis data nodes with REDIS_SENTINELS or REDIS_CLUSTER_NODES (with REDIS_URL it is part of the URL). */
  REDIS_PASSWORD: z.string().min(1).optional(),
  /** TLS to the data nodes with REDIS_SENTINELS or REDIS_CLUSTER_NODES (rediss:// says it for REDIS_URL). */
  // Optional rather than defaulted, so code that builds a BaseEnv by hand (tests) need not name it.
  REDIS_TLS: env.bool(false).optional(),
};
export type RedisEnv = z.infer<z.ZodObject<typeof redisEnvShape>>;

export type RedisTarget =
  | { kind: 'url'; url: string }
  | { kind: 'sentinel'; sentinels: RedisNode[]; name: string; sentinelPassword?: string; password?: string; tls: boolean }
  /** Seed nodes of a Redis Cluster; the client learns the rest (and each slot's master) from them. */
  | { kind: 'cluster'; nodes: RedisNode[]; password?: string; tls: boolean };

const REDIS_CHOICE = 'set exactly one of REDIS_URL (e.g. redis://127.0.0.1:6379/0), REDIS_SENTINELS (with REDIS_SENTINEL_NAME) or REDIS_CLUSTER_NODES';

/** The cross-variable rules of {@link redisEnvShape}, as `{ variable, message }` issues. */
export function redisEnvIssues(env: Partial<Record<keyof RedisEnv, unknown>>): Array<{ variable: string; message: string }> {
  const set = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter((name) => env[name] !== undefined);
  if (set.length === 0) return [{ variable: 'REDIS_URL', message: `is required: ${REDIS_CHOICE}` }];
  if (set.length > 1) return set.map((variable) => ({ variable, message: `${REDIS_CHOICE}; ${set.join(' and ')} are all set` }));
  const issues: Array<{ variable: string; message: string }> = [];
  if (set[0] === 'REDIS_SENTINELS' && !env.REDIS_SENTINEL_NAME) issues.push({ variable: 'REDIS_SENTINEL_NAME', message: 'is required with REDIS_SENTINELS (the master name the sentinels monitor)' });
  if (set[0] !== 'REDIS_SENTINELS') {
    for (const name of ['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_PASSWORD'] as const) {
      if (env[name] !== undefined) issues.push({ variable: name, message: 'is only read with REDIS_SENTINELS' });
    }
  }
  if (set[0] === 'REDIS_URL') {
    for (const name of ['REDIS_PASSWORD'] as const) {
      if (env[name] !== undefined) issues.push({ variable: name, message: 'is not read with REDIS_URL: put the password in the URL' });
    }
  }
  return issues;
}

/** The validated choice, for the one connection factory in `@pushmail/redis`. */
export function redisTarget(env: RedisEnv): RedisTarget {
  if (env.REDIS_SENTINELS && env.REDIS_SENTINEL_NAME) {
    return {
      kind: 'sentinel',
      sentinels: env.REDIS_SENTINELS.map((entry) => parseRedisNode(entry)!),
      name: env.REDIS_SENTINEL_NAME,
      sentinelPassword: env.REDIS_SENTINEL_PASSWORD,
      password: env.REDIS_PASSWORD,
      tls: env.REDIS_TLS ?? false,
    };
  }
  if (env.REDIS_CLUSTER_NODES) {
    return { kind: 'cluster', nodes: env.REDIS_CLUSTER_NODES.map((entry) => parseRedisNode(entry)!), password: env.REDIS_PASSWORD, tls: env.REDIS_TLS ?? false };
  }
  if (env.REDIS_URL) return { kind: 'url', url: env.REDIS_URL };
  throw new ConfigError(['REDIS_URL'], `REDIS_URL: ${REDIS_CHOICE}`);
}

/** Where Redis is, without secrets, for log lines and errors. */
export function describeRedisTarget(target: RedisTarget): string {
  if (target.kind === 'sentinel') return `Sentinel master "${target.name}" via ${target.sentinels.map((n) => `${n.host}:${n.port}`).join(',')}`;
  if (target.kind === 'cluster') return `Redis Cluster via ${target.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  const url = new URL(target.url);
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** Variables every app reads. */
export const baseEnvSchema = z.object({
  ...redisEnvShape,
  LOG_LEVEL: z.enum(logLevels).default('info'),
  /** Set by supervisors and tests to tell replicas apart in logs, metrics and leases. */
  INSTANCE_ID: z.string().optional(),
  SHUTDOWN_TIMEOUT_MS: env.int(10_000, 0, 300_000),
  /**
   * How many hash tags the mailbox-events queue is spread over (a Redis Cluster runs each on the
   * node of its slot); 1 keeps the single `{pm-bull}` tag. Every app must have the same value.
   * Optional (read as 1 when unset) rather than defaulted, so code that builds a BaseEnv by hand (tests) need not name it.
   */
  QUEUE_SHARDS: intFromEnv(1, 64).optional(),
});
export type BaseEnv = z.infer<typeof baseEnvSchema>;

/** The bit width of an IP address (`[…]` around IPv6 allowed), 0 when it is none. */
function ipWidth(address: string): number {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  return isIP(bare) === 4 ? 32 : isIP(bare) === 6 ? 128 : 0;
}

/** A DNS host name by shape: labels of letters, digits and inner hyphens, an optional final dot. */
function isHostName(name: string): boolean {
  return name.length <= 253 && name.replace(/\.$/, '').split('.').every((l) => /^[A-Za-z0-9-]{1,63}$/.test(l) && !l.startsWith('-') && !l.endsWith('-'));
}

/** Host names, `*.`suffixes, IP addresses or CIDRs, comma-separated (no DNS here: checked by shape). */
const mailHostAllowlist = env.list([]).superRefine((entries, ctx) => {
  for (const entry of entries) {
    const [address, prefix, ...rest] = entry.split('/');
    const width = ipWidth(address);
    const cidrOk = width > 0 && !rest.length && (prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= width));
    const nameOk = !entry.includes('/') && isHostName(entry.startsWith('*.') ? entry.slice(2) : entry);
    if (!cidrOk && !nameOk) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${entry}" is neither a host name nor an IP address or CIDR` });
  }
});

/**
 * Which mail servers users may make pushmail connect to, read by every app that opens IMAP or
 * SMTP connections (declared once here; each app spreads it into its schema). See docs/security.md.
 */
export const mailNetworkEnvShape = {
  /** true: user-given mail hosts may resolve to loopback, private, link-local, CGNAT… addresses. */
  ALLOW_PRIVATE_MAIL_HOSTS: env.bool(false),
  /** Exceptions to that refusal: host names (`mail.corp`, `*.corp`) and CIDRs (`10.1.0.0/16`). */
  MAIL_HOST_ALLOWLIST: mailHostAllowlist,
  /** true: plain-text IMAP/SMTP (no STARTTLS) is accepted on ports that are not `secure`. */
  ALLOW_INSECURE_MAIL: env.bool(false),
};
export const mailNetworkEnvSchema = z.object(mailNetworkEnvShape);

/**
 * How pushmail logs in to IMAP servers, read by every app that does (declared once here; each app
 * spreads it into its schema).
 */
export const imapLoginEnvShape = {
  /**
   * Dovecot hosts whose userdb gives users their own namespaces (a prefix or separator per user):
   * every login to them asks NAMESPACE, instead of taking an earlier login's answer (see
   * libs/imap's trimLoginRoundTrips). Host names or addresses as accounts name them, or `*` for all.
   */
  IMAP_PER_USER_NAMESPACE_HOSTS: env.list([]).superRefine((entries, ctx) => {
    for (const entry of entries) {
      if (entry !== '*' && !ipWidth(entry) && !isHostName(entry)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${entry}" is neither a host name, an address nor *` });
    }
  }),
};
export type ImapLoginEnv = z.infer<z.ZodObject<typeof imapLoginEnvShape>>;

/**
 * The operator's OAuth apps for "Sign in with Google / Microsoft" and for refreshing the tokens of
 * `oauth2: { provider: 'google' | 'microsoft' }` accounts; read by every app that logs in to mail.
 * A provider without a client id is not offered.
 */
export const oauthEnvShape = {
  OAUTH_GOOGLE_CLIENT_ID: z.string().min(1).optional(),
  OAUTH_GOOGLE_CLIENT_SECRET: z.string().min(1).optional(),
  OAUTH_MICROSOFT_CLIENT_ID: z.string().min(1).optional(),
  OAUTH_MICROSOFT_CLIENT_SECRET: z.string().min(1).optional(),
  /** `common`, `organizations`, `consumers`, a tenant id or a tenant domain. */
  OAUTH_MICROSOFT_TENANT: z
    .string()
    .regex(/^[A-Za-z0-9.-]{1,253}$/, 'must be common, organizations, consumers, a tenant id or a domain')
    .default('common'),
};
export type OAuthEnv = z.infer<z.ZodObject<typeof oauthEnvShape>>;
export type MailNetworkEnv = z.infer<typeof mailNetworkEnvSchema>;

/** Reads `.env` from the working directory when present; real environment variables win. */
export function loadDotEnv(cwd = process.cwd()): void {
  const file = resolve(cwd, '.env');
  if (existsSync(file)) process.loadEnvFile(file);
}

/**
 * Validates the environment against an app's schema and names every bad variable, so an operator
 * sees `REDIS_URL: is required` instead of a connection error minutes later.
 */
export function parseEnv<S extends z.ZodTypeAny>(schema: S, source: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  // An app's schema holds the Redis variables (baseEnvSchema): exactly one way to Redis must be set.
  const readsRedis = schema instanceof z.ZodObject && 'REDIS_URL' in schema.shape;
  // Presence rules only, so the raw strings serve as well when another variable failed.
  const redisIssues = readsRedis ? redisEnvIssues(cleaned as Partial<Record<keyof RedisEnv, unknown>>) : [];
  if (result.success && !redisIssues.length) return result.data;
  const issues = [...(result.success ? [] : result.error.issues.map((issue) => ({ variable: String(issue.path[0] ?? '(env)'), message: issue.message }))), ...redisIssues];
  const lines = issues.map((i) => `  ${i.variable}: ${i.message}`);
  throw new ConfigError(
    [...new Set(issues.map((i) => i.variable))],
    `Invalid environment:\n${lines.join('\n')}`,
  );
}
