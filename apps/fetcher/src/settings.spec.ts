import { Test } from '@nestjs/testing';
import { testEnv } from '@pushmail/testing';
import { fetcherEnvSchema } from './config';
import { FetchSettings, MessageLimits, ParseSettings, PoolSettings, Pop3RawSettings, RetentionSettings, SETTINGS_GROUPS, WorkerSettings, settingsProviders } from './settings';

const parse = (vars: Record<string, string> = {}) => fetcherEnvSchema.parse(testEnv('redis://127.0.0.1:6379', vars));

describe('fetcher settings', () => {
  it('takes each group from its variables', () => {
    const env = parse({
      MAX_MESSAGE_BYTES: '2048',
      MAX_BODY_CHARS: '5000',
      LARGE_MESSAGE_TEXT_BYTES: '4096',
      FETCH_BATCH_MAX: '7',
      FIRST_FETCH_BYTES: '1024',
      MISSING_MESSAGE_RETRY_MS: '10,20',
      FETCH_POOL_SIZE: '3',
      FETCH_POOL_IDLE_MS: '120000',
      FETCH_POOL_EXTRA_IDLE_MS: '15000',
      FETCH_POOL_ACQUIRE_TIMEOUT_MS: '9000',
      FETCH_POOL_GROW_AFTER_MS: '40',
      PARSE_THREADS: '2',
      PARSE_TIMEOUT_MS: '500',
      MESSAGE_TTL_SECONDS: '600',
      BODY_CACHE_SECONDS: '700',
      EVENT_LOG_MAX_LEN: '80',
      EVENT_LOG_MAX_AGE_SECONDS: '900',
      POP3_RAW_KEEP_BYTES: '0',
      POP3_RAW_KEEP_SECONDS: '120',
      FETCH_CONCURRENCY: '5',
      FETCH_JOB_LOCK_MS: '4000',
      COMMAND_CONCURRENCY: '6',
    });
    expect(MessageLimits.fromEnv(env)).toEqual({ maxMessageBytes: 2048, maxBodyChars: 5000, largeTextBytes: 4096 });
    expect(FetchSettings.fromEnv(env)).toEqual({ batchMax: 7, firstTripBytes: 1024, missingRetryMs: [10, 20] });
    expect(PoolSettings.fromEnv(env)).toEqual({ maxPerAccount: 3, idleMs: 120_000, extraIdleMs: 15_000, acquireTimeoutMs: 9000, growAfterMs: 40 });
    expect(ParseSettings.fromEnv(env)).toEqual({ threads: 2, timeoutMs: 500 });
    expect(RetentionSettings.fromEnv(env)).toEqual({ dedupeTtlSeconds: 600, bodyCacheSeconds: 700, eventLogMaxLen: 80, eventLogMaxAgeSeconds: 900 });
    expect(Pop3RawSettings.fromEnv(env)).toEqual({ keepBytes: 0, keepSeconds: 120 });
    expect(WorkerSettings.fromEnv(env)).toEqual({ fetchConcurrency: 5, commandConcurrency: 6, jobLock: { lockDuration: 4000, stalledInterval: 2000 } });
  });

  it('has the documented defaults', () => {
    const env = parse();
    expect(MessageLimits.fromEnv(env)).toEqual({ maxMessageBytes: 25 * 1024 * 1024, maxBodyChars: 5_000_000, largeTextBytes: 1024 * 1024 });
    expect(FetchSettings.fromEnv(env)).toEqual({ batchMax: 100, firstTripBytes: 256 * 1024, missingRetryMs: [50, 250, 700] });
    expect(PoolSettings.fromEnv(env)).toEqual({ maxPerAccount: 2, idleMs: 300_000, extraIdleMs: 30_000, acquireTimeoutMs: 30_000, growAfterMs: 25 });
    expect(ParseSettings.fromEnv(env)).toEqual({ threads: 1, timeoutMs: 10_000 });
    expect(RetentionSettings.fromEnv(env)).toEqual({ dedupeTtlSeconds: 7 * 24 * 3600, bodyCacheSeconds: 24 * 3600, eventLogMaxLen: 10_000, eventLogMaxAgeSeconds: 7 * 24 * 3600 });
    expect(Pop3RawSettings.fromEnv(env)).toEqual({ keepBytes: 2 * 1024 * 1024, keepSeconds: 24 * 3600 });
    expect(WorkerSettings.fromEnv(env)).toEqual({ fetchConcurrency: 1000, commandConcurrency: 16, jobLock: { lockDuration: 10_000, stalledInterval: 5000 } });
  });

  it('never lets the first fetch trip take more than MAX_MESSAGE_BYTES', () => {
    expect(FetchSettings.fromEnv(parse({ MAX_MESSAGE_BYTES: '2048', FIRST_FETCH_BYTES: '65536' })).firstTripBytes).toBe(2048);
  });

  it('provides every group under its own token', async () => {
    const env = parse({ PARSE_THREADS: '0' });
    const module = await Test.createTestingModule({ providers: settingsProviders(env) }).compile();
    for (const group of SETTINGS_GROUPS) {
      expect(module.get(group)).toEqual(group.fromEnv(env));
    }
    expect(module.get(ParseSettings).threads).toBe(0);
  });
});
