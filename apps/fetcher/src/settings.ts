import { Provider } from '@nestjs/common';
import { SettingsGroup, settingsGroupProviders } from '@pushmail/config';
import { FetcherEnv } from './config';

/*
 * The fetcher's settings, grouped by concern (as immich's config repository groups them). Each
 * service depends on the groups it uses, built once from the environment by `settingsProviders`,
 * instead of on the whole FetcherEnv; a spec builds a group as a plain object. Each group is an
 * abstract class so that it is its own DI token while any object with its fields satisfies it.
 * The variables themselves are described in `config.ts`.
 */

/** Message size limits, declared once for the three readers of MAX_MESSAGE_BYTES: IMAP fetch, assembler and POP3 reader. */
export abstract class MessageLimits {
  /** MAX_MESSAGE_BYTES: above it, only headers, structure and the first text part are taken. */
  abstract readonly maxMessageBytes: number;
  /** MAX_BODY_CHARS */
  abstract readonly maxBodyChars: number;
  /** LARGE_MESSAGE_TEXT_BYTES: how much of an oversized message's first text part is fetched. */
  abstract readonly largeTextBytes: number;

  static fromEnv(env: FetcherEnv): MessageLimits {
    return { maxMessageBytes: env.MAX_MESSAGE_BYTES, maxBodyChars: env.MAX_BODY_CHARS, largeTextBytes: env.LARGE_MESSAGE_TEXT_BYTES };
  }
}

/** How the IMAP fetch batches UIDs and waits for messages announced before they are visible. */
export abstract class FetchSettings {
  /** FETCH_BATCH_MAX */
  abstract readonly batchMax: number;
  /** FIRST_FETCH_BYTES, capped at MAX_MESSAGE_BYTES (a larger first trip would fetch what the limit refuses). */
  abstract readonly firstTripBytes: number;
  /** MISSING_MESSAGE_RETRY_MS */
  abstract readonly missingRetryMs: readonly number[];

  static fromEnv(env: FetcherEnv): FetchSettings {
    return {
      batchMax: env.FETCH_BATCH_MAX,
      firstTripBytes: Math.min(env.MAX_MESSAGE_BYTES, env.FIRST_FETCH_BYTES),
      missingRetryMs: env.MISSING_MESSAGE_RETRY_MS,
    };
  }
}

/** The per-account IMAP connection pool (FETCH_POOL_*). */
export abstract class PoolSettings {
  /** FETCH_POOL_SIZE */
  abstract readonly maxPerAccount: number;
  /** FETCH_POOL_IDLE_MS: an account's last connection. */
  abstract readonly idleMs: number;
  /** FETCH_POOL_EXTRA_IDLE_MS: its further connections. */
  abstract readonly extraIdleMs: number;
  /** FETCH_POOL_ACQUIRE_TIMEOUT_MS */
  abstract readonly acquireTimeoutMs: number;
  /** FETCH_POOL_GROW_AFTER_MS */
  abstract readonly growAfterMs: number;

  static fromEnv(env: FetcherEnv): PoolSettings {
    return {
      maxPerAccount: env.FETCH_POOL_SIZE,
      idleMs: env.FETCH_POOL_IDLE_MS,
      extraIdleMs: env.FETCH_POOL_EXTRA_IDLE_MS,
      acquireTimeoutMs: env.FETCH_POOL_ACQUIRE_TIMEOUT_MS,
      growAfterMs: env.FETCH_POOL_GROW_AFTER_MS,
    };
  }
}

/** The parser threads. */
export abstract class ParseSettings {
  /** PARSE_THREADS; 0 parses inline. */
  abstract readonly threads: number;
  /** PARSE_TIMEOUT_MS */
  abstract readonly timeoutMs: number;

  static fromEnv(env: FetcherEnv): ParseSettings {
    return { threads: env.PARSE_THREADS, timeoutMs: env.PARSE_TIMEOUT_MS };
  }
}

/** How long what the fetcher writes to Redis is kept, and how long each account's event log grows. */
export abstract class RetentionSettings {
  /** MESSAGE_TTL_SECONDS: the dedupe markers of appends. */
  abstract readonly dedupeTtlSeconds: number;
  /** BODY_CACHE_SECONDS: stored message bodies. */
  abstract readonly bodyCacheSeconds: number;
  /** EVENT_LOG_MAX_LEN */
  abstract readonly eventLogMaxLen: number;
  /** EVENT_LOG_MAX_AGE_SECONDS */
  abstract readonly eventLogMaxAgeSeconds: number;

  static fromEnv(env: FetcherEnv): RetentionSettings {
    return {
      dedupeTtlSeconds: env.MESSAGE_TTL_SECONDS,
      bodyCacheSeconds: env.BODY_CACHE_SECONDS,
      eventLogMaxLen: env.EVENT_LOG_MAX_LEN,
      eventLogMaxAgeSeconds: env.EVENT_LOG_MAX_AGE_SECONDS,
    };
  }
}

/** POP3 messages kept raw in Redis so that their attachments are served without a login. */
export abstract class Pop3RawSettings {
  /** POP3_RAW_KEEP_BYTES; 0 keeps none. */
  abstract readonly keepBytes: number;
  /** POP3_RAW_KEEP_SECONDS */
  abstract readonly keepSeconds: number;

  static fromEnv(env: FetcherEnv): Pop3RawSettings {
    return { keepBytes: env.POP3_RAW_KEEP_BYTES, keepSeconds: env.POP3_RAW_KEEP_SECONDS };
  }
}

/** BullMQ's lock options for a worker; see {@link WorkerSettings.jobLock}. */
export interface JobLockOptions {
  lockDuration: number;
  stalledInterval: number;
}

/** Jobs each queue's worker takes at once, and how soon a dead fetcher's jobs move on. */
export abstract class WorkerSettings {
  /** FETCH_CONCURRENCY: mailbox jobs. */
  abstract readonly fetchConcurrency: number;
  /** COMMAND_CONCURRENCY: IMAP commands from the gateway. */
  abstract readonly commandConcurrency: number;
  /**
   * FETCH_JOB_LOCK_MS, for both queues' workers. The lock is renewed every half of it (BullMQ's
   * lockRenewTime default) and the stalled check runs as often: a dead fetcher's job is marked by
   * one check and moved by the first after its lock lapsed, so within about 1.5 × the lock. One
   * setting, the interval derived: an interval longer than the lock would bring back BullMQ's
   * minute.
   */
  abstract readonly jobLock: JobLockOptions;

  static fromEnv(env: FetcherEnv): WorkerSettings {
    const lockMs = env.FETCH_JOB_LOCK_MS;
    return {
      fetchConcurrency: env.FETCH_CONCURRENCY,
      commandConcurrency: env.COMMAND_CONCURRENCY,
      jobLock: { lockDuration: lockMs, stalledInterval: Math.round(lockMs / 2) },
    };
  }
}

/** Every group of this app, each provided under its own token by FetcherModule. */
export const SETTINGS_GROUPS: readonly SettingsGroup<FetcherEnv>[] = [MessageLimits, FetchSettings, PoolSettings, ParseSettings, RetentionSettings, Pop3RawSettings, WorkerSettings];

export function settingsProviders(env: FetcherEnv): Provider[] {
  return settingsGroupProviders(env, SETTINGS_GROUPS);
}
