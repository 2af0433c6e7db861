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

/** Variables every app reads. */
export const baseEnvSchema = z.object({
  REDIS_URL: z
    .string({ required_error: 'is required (e.g. redis://127.0.0.1:6379/0)' })
    .url('must be a URL such as redis://127.0.0.1:6379/0')
    .refine((v) => /^rediss?:\/\//.test(v), { message: 'must start with redis:// or rediss://' }),
  LOG_LEVEL: z.enum(logLevels).default('info'),
  /** Set by supervisors and tests to tell replicas apart in logs, metrics and leases. */
  INSTANCE_ID: z.string().optional(),
  SHUTDOWN_TIMEOUT_MS: env.int(10_000, 0, 300_000),
});
export type BaseEnv = z.infer<typeof baseEnvSchema>;

/** Host names, `*.`suffixes, IP addresses or CIDRs, comma-separated (no DNS here: checked by shape). */
const mailHostAllowlist = env.list([]).superRefine((entries, ctx) => {
  for (const entry of entries) {
    const [address, prefix, ...rest] = entry.split('/');
    const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
    const width = isIP(bare) === 4 ? 32 : isIP(bare) === 6 ? 128 : 0;
    const cidrOk = width > 0 && !rest.length && (prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= width));
    const name = entry.startsWith('*.') ? entry.slice(2) : entry;
    const nameOk = !entry.includes('/') && name.length <= 253 && name.replace(/\.$/, '').split('.').every((l) => /^[A-Za-z0-9-]{1,63}$/.test(l) && !l.startsWith('-') && !l.endsWith('-'));
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
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ variable: String(issue.path[0] ?? '(env)'), message: issue.message }));
  const lines = issues.map((i) => `  ${i.variable}: ${i.message}`);
  throw new ConfigError(
    [...new Set(issues.map((i) => i.variable))],
    `Invalid environment:\n${lines.join('\n')}`,
  );
}
