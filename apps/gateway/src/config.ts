import { baseEnvSchema, env, secretKeySchema } from '@pushmail/config';
import { z } from 'zod';

export const gatewayEnvSchema = baseEnvSchema.extend({
  PORT: env.int(3000, 1, 65535),
  PUSHMAIL_SECRET_KEY: secretKeySchema,
  PUSHMAIL_SECRET_KEY_PREVIOUS: env.list([]),
  AUTH_JWT_SECRET: z.string({ required_error: 'is required (HS256 key for client tokens)' }).min(16, 'must be at least 16 characters'),
  ADMIN_TOKEN: z.string({ required_error: 'is required (bearer token for the admin API)' }).min(8, 'must be at least 8 characters'),
  CORS_ORIGINS: env.list([]),
  /** Largest `message.send` (bodies plus decoded attachments); Socket.IO's buffer is sized from it. */
  SEND_MAX_BYTES: env.int(10 * 1024 * 1024, 1024, 100 * 1024 * 1024),
  SEND_RATE_PER_MINUTE: env.int(30, 1, 100_000),
  SEND_ATTEMPTS: env.int(6, 1, 50),
  SEND_RETRY_DELAY_MS: env.int(5_000, 10, 3_600_000),
  SEND_CONCURRENCY: env.int(4, 1, 100),
  /** How long a send request (and its idempotency key) is remembered. */
  SEND_RECORD_TTL_SECONDS: env.int(24 * 3600, 60, 30 * 24 * 3600),
  SOCKET_EVENTS_PER_SECOND: env.int(20, 1, 10_000),
  SOCKET_EVENTS_BURST: env.int(40, 1, 100_000),
  /** How long `message.get` and `message.flag` wait for the fetcher before answering `internal`. */
  COMMAND_TIMEOUT_MS: env.int(15_000, 100, 300_000),
  /** On SIGTERM, how long clients get to leave on their own after `server.shutdown`. */
  SHUTDOWN_DRAIN_MS: env.int(3_000, 0, 120_000),
  /** Upper bound of the random reconnect delay suggested to clients in `server.shutdown`. */
  SHUTDOWN_RECONNECT_JITTER_MS: env.int(1_000, 0, 60_000),
  /** The built web client (Vite output); a placeholder page is served when it is missing. */
  WEB_DIR: z.string().default('dist/web'),
});
export type GatewayEnv = z.infer<typeof gatewayEnvSchema>;
