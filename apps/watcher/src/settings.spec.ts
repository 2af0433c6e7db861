import { Test } from '@nestjs/testing';
import { testEnv } from '@pushmail/testing';
import { watcherEnvSchema } from './config';
import { OwnershipSettings, SessionSettings, settingsProviders } from './settings';

const parse = (vars: Record<string, string> = {}) => watcherEnvSchema.parse(testEnv('redis://127.0.0.1:6379', vars));

describe('watcher settings', () => {
  it('takes the ownership group from its variables, with the documented defaults', () => {
    expect(OwnershipSettings.fromEnv(parse({ LEASE_TTL_MS: '4000', MEMBER_TTL_MS: '900', HEARTBEAT_INTERVAL_MS: '300', RECONCILE_INTERVAL_MS: '5000', WATCHER_TICK_MS: '100', WATCHER_MAX_ACCOUNTS: '7', SHUTDOWN_TIMEOUT_MS: '8000' }))).toEqual({
      leaseTtlMs: 4000,
      memberTtlMs: 900,
      heartbeatIntervalMs: 300,
      reconcileIntervalMs: 5000,
      tickMs: 100,
      maxAccounts: 7,
      shutdownTimeoutMs: 8000,
    });
    expect(OwnershipSettings.fromEnv(parse())).toMatchObject({ leaseTtlMs: 10_000, memberTtlMs: 1500, heartbeatIntervalMs: 500, reconcileIntervalMs: 30_000, tickMs: 250, maxAccounts: 5000 });
  });

  it('gives every host the environment timings, with its IMAP_HOST_OVERRIDES entry on top', () => {
    const session = SessionSettings.fromEnv(
      parse({
        LOGIN_CONCURRENCY: '9',
        LOGIN_CONCURRENCY_PER_HOST: '3',
        POLL_INTERVAL_MS: '20000',
        FOLDER_SWEEP_INTERVAL_MS: '4000',
        IMAP_HOST_OVERRIDES: '{"imap.163.com":{"DISABLE_IDLE":true,"POLL_INTERVAL_MS":55000}}',
      }),
    );
    expect(session).toMatchObject({ loginConcurrency: 9, loginConcurrencyPerHost: 3 });
    expect(session.timingsFor('imap.example.com')).toEqual({
      POLL_INTERVAL_MS: 20_000,
      IDLE_RESTART_MS: 25 * 60_000,
      HALF_OPEN_TIMEOUT_MS: 5 * 60_000,
      NOOP_TIMEOUT_MS: 15_000,
      BACKOFF_MIN_MS: 1000,
      BACKOFF_MAX_MS: 5 * 60_000,
      AUTH_FAILURE_BACKOFF_MS: 60 * 60_000,
      DISABLE_IDLE: false,
      FOLDER_SWEEP_INTERVAL_MS: 4000,
      FOLDER_LIST_INTERVAL_MS: 5 * 60_000,
      DISABLE_NOTIFY: false,
      RESYNC_SETTLE_MS: 60,
    });
    expect(session.timingsFor('IMAP.163.com')).toMatchObject({ DISABLE_IDLE: true, POLL_INTERVAL_MS: 55_000, FOLDER_SWEEP_INTERVAL_MS: 4000 });
  });

  it('keeps nothing but timings in a host’s timings (no secret rides along into the sessions)', () => {
    const timings = SessionSettings.fromEnv(parse()).timingsFor('imap.example.com');
    expect(Object.keys(timings).every((key) => /_(MS)$|^DISABLE_/.test(key))).toBe(true);
    expect(JSON.stringify(timings)).not.toContain(parse().PUSHMAIL_SECRET_KEY);
  });

  it('provides both groups under their own tokens', async () => {
    const env = parse({ WATCHER_MAX_ACCOUNTS: '11' });
    const module = await Test.createTestingModule({ providers: settingsProviders(env) }).compile();
    expect(module.get(OwnershipSettings).maxAccounts).toBe(11);
    expect(module.get(SessionSettings).timingsFor('x').POLL_INTERVAL_MS).toBe(30_000);
  });
});
