import { ConfigService } from '@pushmail/config';
import { redisKeys } from '@pushmail/contracts';
import { MailCredentialProvider } from '@pushmail/credentials';
import { CredentialCipher } from '@pushmail/crypto';
import { MailHostPolicy, MailNetworkSettings, classifyConnectionError } from '@pushmail/net-policy';
import { HealthService, MetricsService } from '@pushmail/observability';
import { RedisService } from '@pushmail/redis';
import { TEST_SECRET_KEY, TestDovecot, TestOAuthServer, TestRedis, waitFor } from '@pushmail/testing';
import { Pop3ClientFactory, Pop3ServerSettings } from '../src';

/**
 * Issue 19 for POP3, at the library level against real servers: Redis, an OAuth 2 server with
 * 6 s rotating tokens, and Dovecot's POP3 validating XOAUTH2 / OAUTHBEARER at that server's
 * strict introspection endpoint (a forged or expired token is refused at login).
 */
jest.setTimeout(90_000);

const TTL_S = 6;

describe('POP3 OAuth logins through the credential provider', () => {
  let redis: TestRedis;
  let oauth: TestOAuthServer;
  let dovecot: TestDovecot;
  const services: RedisService[] = [];
  const network = new MailNetworkSettings(new MailHostPolicy({ allowPrivate: true, allowlist: [] }), true);

  const process = () => {
    const service = new RedisService(new ConfigService({ REDIS_URL: redis.url, LOG_LEVEL: 'warn', SHUTDOWN_TIMEOUT_MS: 1000 }), new HealthService());
    services.push(service);
    const credentials = new MailCredentialProvider(service, new CredentialCipher(TEST_SECRET_KEY), network, {}, new MetricsService());
    return { credentials, factory: new Pop3ClientFactory(network, credentials) };
  };

  const custom = async (user: string, port = dovecot.pop3Port): Promise<Pop3ServerSettings> => ({
    ...dovecot.pop3Settings(user),
    port,
    pass: undefined,
    oauth2: { provider: 'custom', tokenUrl: oauth.tokenUrl, clientId: 'pushmail-test', refreshToken: await oauth.grant(user) },
  });

  const failureOf = async (promise: Promise<unknown>): Promise<unknown> => {
    try {
      await promise;
    } catch (err) {
      return err;
    }
    throw new Error('expected a failure');
  };

  beforeAll(async () => {
    redis = await TestRedis.start();
    oauth = await TestOAuthServer.start({ ttlSeconds: TTL_S });
    // LMTP delivers only to users the passwd-file knows; their passwords are never used here.
    dovecot = await TestDovecot.start({
      users: Object.fromEntries(['pat', 'quinn', 'rita'].map((u) => [`${u}@pushmail.test`, 'unused-password'])),
      oauth2: { introspectionUrl: oauth.introspectionUrl },
    });
  });
  afterAll(async () => {
    for (const s of services) await s.onModuleDestroy();
    await dovecot?.dispose();
    await oauth?.stop();
    await redis?.dispose();
  });

  it('a custom-provider account polls with XOAUTH2 across three token lifetimes, one refresh per expiry shared by three processes', async () => {
    const user = 'pat@pushmail.test';
    const settings = await custom(user);
    const fleet = Array.from({ length: 3 }, process);
    const started = Date.now();
    let n = 0;
    while (Date.now() - started < 3 * TTL_S * 1000 + 500) {
      n++;
      await dovecot.deliver(user, { subject: `poll ${n}`, messageId: `<pop3-oauth-${n}>` });
      // Every process logs in at once, as a watcher's poll and fetchers' reads can.
      const clients = await Promise.all(fleet.map((p) => p.factory.connect(settings, {}, 'acc_pat')));
      for (const c of clients) expect(await c.uidl()).toHaveLength(n);
      await Promise.all(clients.map((c) => c.quit()));
      await new Promise((r) => setTimeout(r, 500));
    }
    const stats = await oauth.stats();
    console.log(`pop3 oauth: ${n} polls by ${fleet.length} processes, ${stats.refreshes[user]} refreshes over ${((Date.now() - started) / 1000).toFixed(1)} s of ${TTL_S} s tokens`);
    // A second redemption of a rotated refresh token would have been refused.
    expect(stats.refused.unknown ?? 0).toBe(0);
    expect(stats.refreshes[user]).toBeGreaterThanOrEqual(3);
    expect(stats.refreshes[user]).toBeLessThanOrEqual(Math.ceil((Date.now() - started) / (0.8 * TTL_S * 1000)) + 1);
    const methods = [...dovecot.logs().matchAll(/pop3-login:[^\n]*Login: user=<pat@pushmail\.test>, method=([A-Z0-9]+)/g)].map((m) => m[1]);
    expect(methods.length).toBeGreaterThanOrEqual(3 * n);
    expect(new Set(methods)).toEqual(new Set(['XOAUTH2']));
  });

  it('OAUTHBEARER where the server offers only it', async () => {
    const single = await TestDovecot.start({ oauth2: { introspectionUrl: oauth.introspectionUrl }, extraConfig: 'auth_mechanisms = plain login oauthbearer' });
    try {
      const { factory } = process();
      const client = await factory.connect(await custom('only-bearer@pushmail.test', single.pop3Port), {}, 'acc_bearer');
      expect(await client.stat()).toEqual({ count: 0, size: 0 });
      await client.quit();
      await waitFor(() => /pop3-login:[^\n]*Login: user=<[^>]+>, method=([A-Z0-9]+)/.exec(single.logs())?.[1], 5000, 'the login in the Dovecot log').then((m) => expect(m).toBe('OAUTHBEARER'));
    } finally {
      await single.dispose();
    }
  });

  it('a token the server refuses though we held it for valid is dropped, and the login retried once with a fresh one', async () => {
    const user = 'quinn@pushmail.test';
    const settings = await custom(user);
    const { factory } = process();
    await (await factory.connect(settings, {}, 'acc_quinn')).quit();
    // The cached token becomes one the server refuses (as if the provider invalidated it early).
    const redisClient = services[services.length - 1].client;
    const [key] = (await redisClient.keys(redisKeys.oauthToken('acc_quinn', '*'))).filter((k) => !k.endsWith(':lock'));
    const forged = (await oauth.accessToken(user, 60)).accessToken.slice(0, -4) + 'AAAA';
    await redisClient.hset(key, 'token', new CredentialCipher(TEST_SECRET_KEY).encrypt(forged, { accountId: 'acc_quinn', field: 'oauth-access-token' }));
    const before = (await oauth.stats()).refreshes[user] ?? 0;
    const client = await factory.connect(settings, {}, 'acc_quinn');
    expect(await client.stat()).toMatchObject({ count: 0 });
    await client.quit();
    // One refused login, one refresh, one successful login.
    expect((await oauth.stats()).refreshes[user]).toBe(before + 1);
    // Without the OAuth credential the same refusal is a plain auth_failed, not retried.
    const err = await failureOf(factory.connect({ ...dovecot.pop3Settings(user), pass: 'wrong' }, {}, 'acc_quinn'));
    expect(classifyConnectionError(err)).toBe('auth_failed');
  });

  it('a revoked refresh token fails the login as oauth_revoked (auth_failed) without reaching the server', async () => {
    const user = 'rita@pushmail.test';
    const settings = await custom(user);
    const { factory } = process();
    await (await factory.connect(settings, {}, 'acc_rita')).quit();
    await oauth.revoke(user);
    // Past the token's life the next login must refresh, and the provider says invalid_grant.
    await new Promise((r) => setTimeout(r, TTL_S * 1000));
    const logins = (dovecot.logs().match(/pop3-login:[^\n]*Login: user=<rita@/g) ?? []).length;
    expect(logins).toBeGreaterThanOrEqual(1);
    const err = await failureOf(factory.connect(settings, {}, 'acc_rita'));
    expect(classifyConnectionError(err)).toBe('oauth_revoked');
    expect(err).toMatchObject({ authenticationFailed: true });
    expect((dovecot.logs().match(/pop3-login:[^\n]*Login: user=<rita@/g) ?? []).length).toBe(logins);
  });
});
