import { baseEnvSchema, env, imapLoginEnvShape, mailNetworkEnvShape, oauthEnvShape, secretKeySchema } from '@pushmail/config';
import { z } from 'zod';
import { hostOverridesSchema } from './imap/host-overrides';
import { notifySourcesSchema } from './notify/notify-sources';

const MINUTE = 60_000;

export const watcherEnvSchema = baseEnvSchema.extend({
  PORT: env.int(3001, 1, 65535),
  PUSHMAIL_SECRET_KEY: secretKeySchema,
  PUSHMAIL_SECRET_KEY_PREVIOUS: env.list([]),
  /** ALLOW_PRIVATE_MAIL_HOSTS, MAIL_HOST_ALLOWLIST, ALLOW_INSECURE_MAIL (libs/config). */
  ...mailNetworkEnvShape,
  /** IMAP_PER_USER_NAMESPACE_HOSTS (libs/config). */
  ...imapLoginEnvShape,
  ...oauthEnvShape,
  /** Most accounts one watcher leases; past it the watcher takes no more and reports not ready. */
  WATCHER_MAX_ACCOUNTS: env.int(5000, 1),
  /**
   * An account lease expires this long after its last renewal: how long a partitioned (not dead)
   * watcher's accounts wait before another watcher takes them.
   */
  LEASE_TTL_MS: env.int(10_000, 500),
  HEARTBEAT_INTERVAL_MS: env.int(500, 50),
  /**
   * A member that has not heartbeaten for this long leaves the membership; if its heartbeat
   * connection is gone from Redis too (killed), its leases are taken at once. At least three
   * heartbeats are always allowed, whatever this says.
   */
  MEMBER_TTL_MS: env.int(1500, 100),
  /** Full pass over all accounts (the safety net behind pub/sub notices). */
  RECONCILE_INTERVAL_MS: env.int(30_000, 100),
  /** Poll interval for servers without IDLE. */
  POLL_INTERVAL_MS: env.int(30_000, 100),
  /** Servers without NOTIFY: how often a session checks the account's other folders (one LIST with STATUS). */
  FOLDER_SWEEP_INTERVAL_MS: env.int(30_000, 100),
  /** Servers with NOTIFY: how often a session reads the folder list anyway (renames or deletes NOTIFY reported late or not at all). */
  FOLDER_LIST_INTERVAL_MS: env.int(5 * MINUTE, 100),
  /**
   * When EXISTS or a NOTIFY STATUS already gave new mail its fetch jobs, the session waits this long
   * before leaving IDLE to search (and, for another folder, examine) it, so that those commands do
   * not reach the server in the same milliseconds as the fetcher's fetch of that mail (see
   * ImapSession.requestAfterSettle). 0: at once.
   */
  RESYNC_SETTLE_MS: env.int(60, 0, 1000),
  /** IDLE is re-issued at least this often (RFC 2177 allows servers to drop it after 29 minutes). */
  IDLE_RESTART_MS: env.int(25 * MINUTE, 1000),
  /** No traffic for this long → NOOP to tell a half-open connection from a quiet one. */
  HALF_OPEN_TIMEOUT_MS: env.int(5 * MINUTE, 100),
  NOOP_TIMEOUT_MS: env.int(15_000, 50),
  BACKOFF_MIN_MS: env.int(1000, 1),
  BACKOFF_MAX_MS: env.int(5 * MINUTE, 1),
  AUTH_FAILURE_BACKOFF_MS: env.int(60 * MINUTE, 1),
  /** Concurrent IMAP logins per watcher and per IMAP host, so a restart is no login storm. */
  LOGIN_CONCURRENCY: env.int(50, 1),
  LOGIN_CONCURRENCY_PER_HOST: env.int(10, 1),
  /** The shared timer that drives reconnects, polls and half-open checks for every session. */
  WATCHER_TICK_MS: env.int(250, 10, 10_000),
  /** Provider quirks as data: per-host IDLE_RESTART_MS, POLL_INTERVAL_MS, HALF_OPEN_TIMEOUT_MS, DISABLE_IDLE, FOLDER_SWEEP_INTERVAL_MS, FOLDER_LIST_INTERVAL_MS, DISABLE_NOTIFY, RESYNC_SETTLE_MS (JSON). */
  IMAP_HOST_OVERRIDES: hostOverridesSchema,
  /** Mail servers allowed to post push notifications to POST /api/notify/dovecot (JSON; empty: ingress off). */
  NOTIFY_SOURCES: notifySourcesSchema,
});
export type WatcherEnv = z.infer<typeof watcherEnvSchema>;
