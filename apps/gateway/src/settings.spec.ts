import { Test } from '@nestjs/testing';
import { testEnv } from '@pushmail/testing';
import { gatewayEnvSchema } from './config';
import { AccountLimits, AdminSettings, CommandSettings, PartSettings, SETTINGS_GROUPS, SendSettings, ShutdownSettings, SignInSettings, SocketSettings, settingsProviders } from './settings';

const parse = (vars: Record<string, string> = {}) => gatewayEnvSchema.parse(testEnv('redis://127.0.0.1:6379', vars));

describe('gateway settings', () => {
  it('takes each group from its variables', () => {
    const env = parse({
      MAX_ACCOUNTS_PER_USER: '3',
      ACCOUNT_CHANGES_PER_HOUR: '4',
      POP3_MIN_POLL_SECONDS: '5',
      ADMIN_AUTH_FAILURES_PER_MINUTE: '6',
      PART_LINK_TTL_SECONDS: '60',
      PART_DOWNLOADS_PER_MINUTE: '7',
      POP3_PART_RETR_MAX_BYTES: '4096',
      SOCKET_EVENTS_PER_SECOND: '8',
      SOCKET_EVENTS_BURST: '9',
      SEND_MAX_BYTES: '2048',
      SEND_RATE_PER_MINUTE: '10',
      SEND_QUEUE_BYTES_PER_USER: '8192',
      SEND_RECORD_TTL_SECONDS: '120',
      SEND_ATTEMPTS: '2',
      SEND_RETRY_DELAY_MS: '100',
      SEND_CONCURRENCY: '11',
      COMMAND_TIMEOUT_MS: '500',
      LIST_CACHE_SECONDS: '0',
      SHUTDOWN_DRAIN_MS: '700',
      SHUTDOWN_RECONNECT_JITTER_MS: '0',
      PUBLIC_URL: 'https://mail.example.com/',
      OAUTH_GOOGLE_CLIENT_ID: 'google-client',
    });
    expect(AccountLimits.fromEnv(env)).toEqual({ maxPerUser: 3, changesPerHour: 4, pop3MinPollSeconds: 5 });
    expect(AdminSettings.fromEnv(env)).toEqual({ token: env.ADMIN_TOKEN, authFailuresPerMinute: 6 });
    expect(PartSettings.fromEnv(env)).toEqual({ linkSecret: env.AUTH_JWT_SECRET, linkTtlSeconds: 60, downloadsPerMinute: 7, pop3RetrMaxBytes: 4096 });
    expect(SocketSettings.fromEnv(env)).toEqual({ eventsPerSecond: 8, eventsBurst: 9 });
    expect(SendSettings.fromEnv(env)).toEqual({ maxBytes: 2048, ratePerMinute: 10, queueBytesPerUser: 8192, recordTtlSeconds: 120, attempts: 2, retryDelayMs: 100, concurrency: 11 });
    expect(CommandSettings.fromEnv(env)).toEqual({ timeoutMs: 500, listCacheSeconds: 0 });
    expect(ShutdownSettings.fromEnv(env)).toEqual({ drainMs: 700, reconnectJitterMs: 0 });
    const signIn = SignInSettings.fromEnv(env);
    expect(signIn.publicUrl).toBe('https://mail.example.com');
    expect(signIn.presets.map((p) => [p.provider, p.clientId])).toEqual([['google', 'google-client']]);
    expect(signIn.custom).toBeUndefined();
  });

  it('has the documented defaults', () => {
    const env = parse();
    expect(AccountLimits.fromEnv(env)).toEqual({ maxPerUser: 20, changesPerHour: 30, pop3MinPollSeconds: 15 });
    expect(AdminSettings.fromEnv(env).authFailuresPerMinute).toBe(10);
    expect(PartSettings.fromEnv(env)).toMatchObject({ linkTtlSeconds: 300, downloadsPerMinute: 120, pop3RetrMaxBytes: 25 * 1024 * 1024 });
    expect(SocketSettings.fromEnv(env)).toEqual({ eventsPerSecond: 20, eventsBurst: 40 });
    expect(SendSettings.fromEnv(env)).toEqual({
      maxBytes: 10 * 1024 * 1024,
      ratePerMinute: 30,
      queueBytesPerUser: 50 * 1024 * 1024,
      recordTtlSeconds: 24 * 3600,
      attempts: 6,
      retryDelayMs: 5000,
      concurrency: 4,
    });
    expect(CommandSettings.fromEnv(env)).toEqual({ timeoutMs: 15_000, listCacheSeconds: 60 });
    expect(ShutdownSettings.fromEnv(env)).toEqual({ drainMs: 3000, reconnectJitterMs: 1000 });
    // No PUBLIC_URL and no OAuth client: nothing to sign in with.
    expect(SignInSettings.fromEnv(env)).toEqual({ publicUrl: undefined, presets: [], custom: undefined });
  });

  it('lists Google before Microsoft, each only with its client id', () => {
    const both = SignInSettings.fromEnv(parse({ OAUTH_MICROSOFT_CLIENT_ID: 'ms-client', OAUTH_GOOGLE_CLIENT_ID: 'google-client' }));
    expect(both.presets.map((p) => p.provider)).toEqual(['google', 'microsoft']);
    expect(SignInSettings.fromEnv(parse({ OAUTH_MICROSOFT_CLIENT_ID: 'ms-client' })).presets.map((p) => p.provider)).toEqual(['microsoft']);
  });

  it('provides every group under its own token', async () => {
    const env = parse({ SEND_CONCURRENCY: '9' });
    const module = await Test.createTestingModule({ providers: settingsProviders(env) }).compile();
    for (const group of SETTINGS_GROUPS) expect(module.get(group)).toEqual(group.fromEnv(env));
    expect(module.get(SendSettings).concurrency).toBe(9);
  });
});
