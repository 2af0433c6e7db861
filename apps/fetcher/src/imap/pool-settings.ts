import { FetcherEnv } from '../config';

/**
 * The per-account IMAP connection pool's settings, grouped (as immich's config repository groups
 * by concern) so the pool depends on these five numbers rather than on the whole fetcher
 * environment. Each variable is described in `config.ts`.
 */
export class PoolSettings {
  /** FETCH_POOL_SIZE */
  readonly maxPerAccount: number;
  /** FETCH_POOL_IDLE_MS: an account's last connection. */
  readonly idleMs: number;
  /** FETCH_POOL_EXTRA_IDLE_MS: its further connections. */
  readonly extraIdleMs: number;
  /** FETCH_POOL_ACQUIRE_TIMEOUT_MS */
  readonly acquireTimeoutMs: number;
  /** FETCH_POOL_GROW_AFTER_MS */
  readonly growAfterMs: number;

  constructor(settings: Pick<PoolSettings, 'maxPerAccount' | 'idleMs' | 'extraIdleMs' | 'acquireTimeoutMs' | 'growAfterMs'>) {
    this.maxPerAccount = settings.maxPerAccount;
    this.idleMs = settings.idleMs;
    this.extraIdleMs = settings.extraIdleMs;
    this.acquireTimeoutMs = settings.acquireTimeoutMs;
    this.growAfterMs = settings.growAfterMs;
  }

  static fromEnv(env: Pick<FetcherEnv, 'FETCH_POOL_SIZE' | 'FETCH_POOL_IDLE_MS' | 'FETCH_POOL_EXTRA_IDLE_MS' | 'FETCH_POOL_ACQUIRE_TIMEOUT_MS' | 'FETCH_POOL_GROW_AFTER_MS'>): PoolSettings {
    return new PoolSettings({
      maxPerAccount: env.FETCH_POOL_SIZE,
      idleMs: env.FETCH_POOL_IDLE_MS,
      extraIdleMs: env.FETCH_POOL_EXTRA_IDLE_MS,
      acquireTimeoutMs: env.FETCH_POOL_ACQUIRE_TIMEOUT_MS,
      growAfterMs: env.FETCH_POOL_GROW_AFTER_MS,
    });
  }
}
