/**
 * Environment the bench gives each app on top of its defaults. Only what a deployment of this
 * size would set: limits that must exceed the bench's account counts.
 */
export const appTuning: Record<'watcher' | 'fetcher' | 'gateway', Record<string, string>> = {
  watcher: {},
  fetcher: {},
  gateway: {},
};

/** The watchers' lease TTL in the failover run (the watcher's default, set explicitly): the target's base. */
export const LEASE_TTL_MS = 10_000;
