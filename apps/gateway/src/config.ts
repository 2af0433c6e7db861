import { baseEnvSchema, env, imapLoginEnvShape, mailNetworkEnvShape, oauthEnvShape, secretKeySchema } from '@pushmail/config';
import { z } from 'zod';

const mailServerSchema = z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535), secure: z.boolean() }).strict();
/** OAUTH_SIGNIN_CUSTOM: an operator's own OpenID provider and the mail servers its tokens open. */
export const customSignInSchema = z
  .object({
    label: z.string().min(1).max(60),
    authorizeUrl: z.string().url(),
    tokenUrl: z.string().url(),
    clientId: z.string().min(1),
    clientSecret: z.string().min(1).optional(),
    /** Must include `openid email` (the address is read from the ID token) and what grants mail access. */
    scope: z.string().min(1).default('openid email offline_access'),
    imap: mailServerSchema,
    smtp: mailServerSchema,
  })
  .strict();
export type CustomSignIn = z.infer<typeof customSignInSchema>;

export const gatewayEnvSchema = baseEnvSchema.extend({
  PORT: env.int(3000, 1, 65535),
  PUSHMAIL_SECRET_KEY: secretKeySchema,
  PUSHMAIL_SECRET_KEY_PREVIOUS: env.list([]),
  /** ALLOW_PRIVATE_MAIL_HOSTS, MAIL_HOST_ALLOWLIST, ALLOW_INSECURE_MAIL (libs/config). */
  ...mailNetworkEnvShape,
  /** IMAP_PER_USER_NAMESPACE_HOSTS (libs/config). */
  ...imapLoginEnvShape,
  ...oauthEnvShape,
  /** Accounts one user may have; one more is 409. */
  MAX_ACCOUNTS_PER_USER: env.int(20, 1, 100_000),
  /** Account creations and deletions per user per hour (fixed window in Redis); more is 429. */
  ACCOUNT_CHANGES_PER_HOUR: env.int(30, 1, 1_000_000),
  /** Shortest `pollIntervalSeconds` a POP3 account may ask for (400 below it); lower only in tests. */
  POP3_MIN_POLL_SECONDS: env.int(15, 1, 3600),
  /**
   * A POP3 part whose message the fetcher did not keep raw (POP3_RAW_KEEP_BYTES) is cut out of the
   * whole message, downloaded again with RETR and held in memory while it is: larger messages are
   * refused (502) rather than buffered.
   */
  POP3_PART_RETR_MAX_BYTES: env.int(25 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  // HS256 with a short key is open to offline guessing from any one token: at least 32 bytes (RFC 7518 §3.2).
  AUTH_JWT_SECRET: z
    .string({ required_error: 'is required (HS256 key for client tokens)' })
    .refine((v) => Buffer.byteLength(v, 'utf8') >= 32, 'must be at least 32 bytes (e.g. openssl rand -base64 32)'),
  /** When set, client tokens must carry this `aud`. */
  AUTH_JWT_AUDIENCE: z.string().optional(),
  /** When set, client tokens must carry this `iss`. */
  AUTH_JWT_ISSUER: z.string().optional(),
  ADMIN_TOKEN: z.string({ required_error: 'is required (bearer token for the admin API)' }).min(24, 'must be at least 24 characters (e.g. openssl rand -base64 24)'),
  /** Failed admin authentications one source IP may make per minute before it gets 429. */
  ADMIN_AUTH_FAILURES_PER_MINUTE: env.int(10, 1, 100_000),
  /** Lifetime of signed part URLs (`message.partLink`), at most 5 minutes. */
  PART_LINK_TTL_SECONDS: env.int(300, 10, 300),
  /** Part downloads (each one an IMAP login by the gateway) one user may start per minute. */
  PART_DOWNLOADS_PER_MINUTE: env.int(120, 1, 100_000),
  /** Bytes a socket may have queued towards a client that does not read; past it, it is disconnected. */
  SOCKET_MAX_BUFFERED_BYTES: env.int(4 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
  CORS_ORIGINS: env.list([]),
  /** Largest `message.send` (bodies plus decoded attachments); Socket.IO's buffer is sized from it. */
  SEND_MAX_BYTES: env.int(10 * 1024 * 1024, 1024, 100 * 1024 * 1024),
  SEND_RATE_PER_MINUTE: env.int(30, 1, 100_000),
  SEND_ATTEMPTS: env.int(6, 1, 50),
  SEND_RETRY_DELAY_MS: env.int(5_000, 10, 3_600_000),
  SEND_CONCURRENCY: env.int(4, 1, 100),
  /** How long a send request (and its idempotency key) is remembered. */
  SEND_RECORD_TTL_SECONDS: env.int(24 * 3600, 60, 30 * 24 * 3600),
  /** Bytes one user's queued and retrying sends may hold in Redis; more → `rate_limited`. */
  SEND_QUEUE_BYTES_PER_USER: env.int(50 * 1024 * 1024, 1024, 10 * 1024 * 1024 * 1024),
  SOCKET_EVENTS_PER_SECOND: env.int(20, 1, 10_000),
  SOCKET_EVENTS_BURST: env.int(40, 1, 100_000),
  /**
   * How long the first page of INBOX a `message.list` returned is kept in Redis for the next list
   * (libs/page-cache; dropped earlier by the account's next event); 0: every list asks the server.
   */
  LIST_CACHE_SECONDS: env.int(60, 0, 86_400),
  /** How long `message.get` and `message.flag` wait for the fetcher before answering `internal`. */
  COMMAND_TIMEOUT_MS: env.int(15_000, 100, 300_000),
  /** On SIGTERM, how long clients get to leave on their own after `server.shutdown`. */
  SHUTDOWN_DRAIN_MS: env.int(3_000, 0, 120_000),
  /** Upper bound of the random reconnect delay suggested to clients in `server.shutdown`. */
  SHUTDOWN_RECONNECT_JITTER_MS: env.int(1_000, 0, 60_000),
  /** The built web client (Vite output); a placeholder page is served when it is missing. */
  WEB_DIR: z.string().default('dist/web'),
  /**
   * The gateway's address as browsers reach it (`https://mail.example.com`): the web client's home
   * and the OAuth redirect URI (`<PUBLIC_URL>/api/oauth/callback`). Unset: no "Sign in with…".
   */
  PUBLIC_URL: z
    .string()
    .url('must be a URL such as https://mail.example.com')
    .refine((v) => /^https?:\/\//i.test(v), 'must start with https:// (or http:// for a local test)')
    .transform((v) => (v.endsWith('/') ? v.slice(0, -1) : v))
    .optional(),
  /**
   * A "Sign in with…" button for one more OpenID provider the operator runs (Keycloak, Authentik…)
   * in front of their own IMAP/SMTP server, as JSON (see docs/operations.md); accounts it creates
   * are `oauth2: { provider: 'custom' }`. Unset: only Google and Microsoft (when configured).
   */
  OAUTH_SIGNIN_CUSTOM: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (!v) return undefined;
      try {
        return JSON.parse(v) as unknown;
      } catch {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be JSON (see docs/operations.md)' });
        return z.NEVER;
      }
    })
    .pipe(customSignInSchema.optional()),
});
export type GatewayEnv = z.infer<typeof gatewayEnvSchema>;
