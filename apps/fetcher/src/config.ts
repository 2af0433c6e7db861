import { baseEnvSchema, env, imapLoginEnvShape, mailNetworkEnvShape, oauthEnvShape, secretKeySchema } from '@pushmail/config';
import { z } from 'zod';

export const fetcherEnvSchema = baseEnvSchema.extend({
  PORT: env.int(3002, 1, 65535),
  PUSHMAIL_SECRET_KEY: secretKeySchema,
  PUSHMAIL_SECRET_KEY_PREVIOUS: env.list([]),
  /** ALLOW_PRIVATE_MAIL_HOSTS, MAIL_HOST_ALLOWLIST, ALLOW_INSECURE_MAIL (libs/config). */
  ...mailNetworkEnvShape,
  /** IMAP_PER_USER_NAMESPACE_HOSTS (libs/config). */
  ...imapLoginEnvShape,
  ...oauthEnvShape,
  /**
   * Mailbox jobs (fetch, flags, deleted, reset) processed at once. High on purpose: fetches of one
   * mailbox that are in flight together share one UID FETCH, and most of a job's time is waiting.
   */
  FETCH_CONCURRENCY: env.int(1000, 1, 10_000),
  /**
   * How long the lock of a fetcher's job (a mailbox job, or a gateway command: flag, move, delete)
   * lasts in Redis without renewal (the worker renews it every half). A fetcher that dies holding
   * jobs (kill -9, an OOM kill) leaves them locked; the stalled check, run every half of this,
   * hands them to another fetcher once the lock has lapsed: within about 1.5 × this. BullMQ's
   * defaults (a 30 s lock checked every 30 s) held such mail back for up to a minute, and a
   * command past its gateway's 15 s wait. A fetcher whose event loop stalls longer than half of
   * this loses its jobs to another, which runs them again: the event log drops a duplicate append;
   * a flag change is the same twice, and a repeated move or delete finds nothing left to move.
   */
  FETCH_JOB_LOCK_MS: env.int(10_000, 2_000, 300_000),
  /**
   * Threads that parse and sanitize beside the main thread's IMAP and Redis work; 0 parses inline.
   * One suits two cores; give more only with more cores than fetcher processes.
   */
  PARSE_THREADS: env.int(1, 0, 16),
  /**
   * A parse running longer than this terminates its thread: the message is delivered with its
   * headers only and `parseWarnings: ['parse_timeout']`, the thread's other messages are parsed
   * again on a fresh thread. Needs PARSE_THREADS ≥ 1 (an inline parse cannot be interrupted).
   */
  PARSE_TIMEOUT_MS: env.int(10_000, 10, 600_000),
  /** IMAP commands from the gateway (flag, get) processed at once. */
  COMMAND_CONCURRENCY: env.int(16, 1, 1000),
  /** IMAP connections per account, on top of the watcher's IDLE sessions; keep below the server's per-user limit. */
  FETCH_POOL_SIZE: env.int(2, 1, 50),
  /** An account's last pooled connection is logged out after this long unused (the next message then pays a login). */
  FETCH_POOL_IDLE_MS: env.int(300_000, 0),
  /** Further pooled connections of an account (opened for a burst) are logged out after this long unused. */
  FETCH_POOL_EXTRA_IDLE_MS: env.int(30_000, 0),
  /**
   * A job waits this long for an account's busy connection before another one is opened (a login
   * costs more). 200 ms was tried: in an alternating bench A/B it changed neither throughput nor
   * the logins per burst (`pushmail_fetch_pool_logins_total`), so the shorter wait stays.
   */
  FETCH_POOL_GROW_AFTER_MS: env.int(25, 0, 60_000),
  /** How long a job waits for a pooled connection before it fails (and is retried). */
  FETCH_POOL_ACQUIRE_TIMEOUT_MS: env.int(30_000, 100),
  /** Most UIDs in one UID FETCH. */
  FETCH_BATCH_MAX: env.int(100, 1, 10_000),
  /** Above this RFC822.SIZE only headers, structure and the first text part are fetched. */
  MAX_MESSAGE_BYTES: env.int(25 * 1024 * 1024, 1024),
  /** The first UID FETCH takes bodies up to this size along with the metadata; larger ones take a second trip. */
  FIRST_FETCH_BYTES: env.int(256 * 1024, 1024),
  /** How much of the first text part of an oversized message is fetched. */
  LARGE_MESSAGE_TEXT_BYTES: env.int(1024 * 1024, 1024),
  /**
   * POP3 messages up to this size are kept raw in Redis for POP3_RAW_KEEP_SECONDS, so their
   * attachments are served without a login (POP3 cannot fetch one part); larger ones, or after
   * that, the gateway downloads the whole message again with RETR. 0 keeps none.
   */
  POP3_RAW_KEEP_BYTES: env.int(2 * 1024 * 1024, 0, 64 * 1024 * 1024),
  POP3_RAW_KEEP_SECONDS: env.int(24 * 3600, 60, 30 * 24 * 3600),
  /** Longer text or html bodies are cut, with a parse warning. */
  MAX_BODY_CHARS: env.int(5_000_000, 1000),
  /** Dedupe markers (a retried job finds its event instead of appending a second) expire after this. */
  MESSAGE_TTL_SECONDS: env.int(7 * 24 * 3600, 60),
  /**
   * Parsed message bodies are stored once, for this long, for replays and `message.get`; the event
   * log keeps a summary. After it, a replayed `message.new` says `bodyExpired` and `message.get`
   * fetches the message from the mail server again.
   */
  BODY_CACHE_SECONDS: env.int(24 * 3600, 60),
  /** Each account's event log keeps about this many events. */
  EVENT_LOG_MAX_LEN: env.int(10_000, 10),
  /** ...and none older than this (trimmed when the account's next event is appended). */
  EVENT_LOG_MAX_AGE_SECONDS: env.int(7 * 24 * 3600, 60),
  /**
   * A UID the server does not show yet is looked for again after these delays (ms) before the job
   * is retried by the queue; EXISTS can arrive before the message can be fetched.
   */
  MISSING_MESSAGE_RETRY_MS: env.list(['50', '250', '700']).pipe(z.array(z.coerce.number().int().min(0).max(60_000))),
});
export type FetcherEnv = z.infer<typeof fetcherEnvSchema>;
