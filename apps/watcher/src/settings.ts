import { Provider } from '@nestjs/common';
import { SettingsGroup, settingsGroupProviders } from '@pushmail/config';
import { WatcherEnv } from './config';
import { SessionTimings, timingsByHost } from './imap/host-overrides';

/*
 * The watcher's settings, grouped by concern (as immich's config repository groups them) and built
 * once from the environment by `settingsProviders`, instead of the whole WatcherEnv in
 * WatcherService. Abstract classes, so each group is its own DI token while any object with its
 * fields satisfies it. The variables themselves are described in `config.ts`.
 */

/** Who watches which account: membership heartbeats, leases, capacity and the shared tick. */
export abstract class OwnershipSettings {
  /** LEASE_TTL_MS */
  abstract readonly leaseTtlMs: number;
  /** MEMBER_TTL_MS */
  abstract readonly memberTtlMs: number;
  /** HEARTBEAT_INTERVAL_MS */
  abstract readonly heartbeatIntervalMs: number;
  /** RECONCILE_INTERVAL_MS */
  abstract readonly reconcileIntervalMs: number;
  /** WATCHER_TICK_MS */
  abstract readonly tickMs: number;
  /** WATCHER_MAX_ACCOUNTS */
  abstract readonly maxAccounts: number;
  /** SHUTDOWN_TIMEOUT_MS: handing the leases over on shutdown takes at most half of it. */
  abstract readonly shutdownTimeoutMs: number;

  static fromEnv(env: WatcherEnv): OwnershipSettings {
    return {
      leaseTtlMs: env.LEASE_TTL_MS,
      memberTtlMs: env.MEMBER_TTL_MS,
      heartbeatIntervalMs: env.HEARTBEAT_INTERVAL_MS,
      reconcileIntervalMs: env.RECONCILE_INTERVAL_MS,
      tickMs: env.WATCHER_TICK_MS,
      maxAccounts: env.WATCHER_MAX_ACCOUNTS,
      shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    };
  }
}

/** How sessions log in and keep time, per mail host. */
export abstract class SessionSettings {
  /** LOGIN_CONCURRENCY */
  abstract readonly loginConcurrency: number;
  /** LOGIN_CONCURRENCY_PER_HOST */
  abstract readonly loginConcurrencyPerHost: number;
  /** A host's timings: the environment's, with its IMAP_HOST_OVERRIDES entry applied. */
  abstract readonly timingsFor: (host: string) => SessionTimings;

  static fromEnv(env: WatcherEnv): SessionSettings {
    // IDLE and NOTIFY are turned off per host only (IMAP_HOST_OVERRIDES), never for every host.
    const base: SessionTimings = {
      POLL_INTERVAL_MS: env.POLL_INTERVAL_MS,
      IDLE_RESTART_MS: env.IDLE_RESTART_MS,
      HALF_OPEN_TIMEOUT_MS: env.HALF_OPEN_TIMEOUT_MS,
      NOOP_TIMEOUT_MS: env.NOOP_TIMEOUT_MS,
      BACKOFF_MIN_MS: env.BACKOFF_MIN_MS,
      BACKOFF_MAX_MS: env.BACKOFF_MAX_MS,
      AUTH_FAILURE_BACKOFF_MS: env.AUTH_FAILURE_BACKOFF_MS,
      DISABLE_IDLE: false,
      FOLDER_SWEEP_INTERVAL_MS: env.FOLDER_SWEEP_INTERVAL_MS,
      FOLDER_LIST_INTERVAL_MS: env.FOLDER_LIST_INTERVAL_MS,
      DISABLE_NOTIFY: false,
      RESYNC_SETTLE_MS: env.RESYNC_SETTLE_MS,
    };
    return {
      loginConcurrency: env.LOGIN_CONCURRENCY,
      loginConcurrencyPerHost: env.LOGIN_CONCURRENCY_PER_HOST,
      timingsFor: timingsByHost(base, env.IMAP_HOST_OVERRIDES),
    };
  }
}

/** Every group of this app, each provided under its own token by WatcherModule. */
export const SETTINGS_GROUPS: readonly SettingsGroup<WatcherEnv>[] = [OwnershipSettings, SessionSettings];

export function settingsProviders(env: WatcherEnv): Provider[] {
  return settingsGroupProviders(env, SETTINGS_GROUPS);
}
