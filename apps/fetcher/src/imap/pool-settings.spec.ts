import { testEnv } from '@pushmail/testing';
import { fetcherEnvSchema } from '../config';
import { PoolSettings } from './pool-settings';

describe('PoolSettings', () => {
  it('takes each setting from its FETCH_POOL_* variable', () => {
    const env = fetcherEnvSchema.parse(
      testEnv('redis://127.0.0.1:6379', {
        FETCH_POOL_SIZE: '3',
        FETCH_POOL_IDLE_MS: '120000',
        FETCH_POOL_EXTRA_IDLE_MS: '15000',
        FETCH_POOL_ACQUIRE_TIMEOUT_MS: '9000',
        FETCH_POOL_GROW_AFTER_MS: '40',
      }),
    );
    expect({ ...PoolSettings.fromEnv(env) }).toEqual({ maxPerAccount: 3, idleMs: 120_000, extraIdleMs: 15_000, acquireTimeoutMs: 9000, growAfterMs: 40 });
  });

  it('has the documented defaults', () => {
    const env = fetcherEnvSchema.parse(testEnv('redis://127.0.0.1:6379'));
    expect({ ...PoolSettings.fromEnv(env) }).toEqual({ maxPerAccount: 2, idleMs: 300_000, extraIdleMs: 30_000, acquireTimeoutMs: 30_000, growAfterMs: 25 });
  });
});
