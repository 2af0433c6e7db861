import { ConfigService } from '@pushmail/config';
import { ServerSettings } from '@pushmail/contracts';
import { MailCredentialProvider, OAuthLoginError } from '@pushmail/credentials';
import { CredentialCipher } from '@pushmail/crypto';
import { ImapClientFactory } from '@pushmail/imap';
import { SmtpMailer } from '@pushmail/mailer';
import { MailHostPolicy, MailNetworkSettings, classifyConnectionError } from '@pushmail/net-policy';
import { HealthService, MetricsService } from '@pushmail/observability';
import { RedisService } from '@pushmail/redis';
import { SmtpSink, TEST_SECRET_KEY, TestDovecot, TestOAuthServer, TestRedis, waitFor } from '@pushmail/testing';
import { ImapFlow } from 'imapflow';
import { createServer } from 'node:http';

/**
 * Issue 19 at the library level, against real servers: Redis, an OAuth 2 server with 6 s tokens
 * and rotating refresh tokens, Dovecot validating XOAUTH2 at that server's strict introspection
 * endpoint, and an SMTP sink doing the same.
 */
jest.setTimeout(90_000);

const TTL_S = 6;

describe('OAuth mail logins (XOAUTH2) through the credential provider', () => {
  let redis: TestRedis;
  let oauth: TestOAuthServer;
  let dovecot: TestDovecot;
  let sink: SmtpSink;
  const services: RedisService[] = [];
  const network = new MailNetworkSettings(new MailHostPolicy({ allowPrivate: true, allowlist: [] }), true);

  /** One "process": its own Redis connection, cipher and metrics, like a watcher, fetcher or gateway. */
  const process = () => {
    const service = new RedisService(new ConfigService({ REDIS_URL: redis.url, LOG_LEVEL: 'warn', SHUTDOWN_TIMEOUT_MS: 1000 }), new HealthService());
    services.push(service);
    const metrics = new MetricsService();
    const credentials = new MailCredentialProvider(service, new CredentialCipher(TEST_SECRET_KEY), network, {}, metrics);
    return { credentials, metrics, factory: new ImapClientFactory(network, credentials), mailer: new SmtpMailer(network, credentials) };
  };

  const custom = async (user: string): Promise<ServerSettings> => ({
    ...dovecot.imapSettings(user),
    pass: undefined,
    oauth2: { provider: 'custom', tokenUrl: oauth.tokenUrl, clientId: 'pushmail-test', refreshToken: await oauth.grant(user) },
  });

  const loginWith = async (factory: ImapClientFactory, settings: ServerSettings, accountId: string): Promise<ImapFlow> => {
    const client = await factory.create(settings, { disableAutoIdle: true }, accountId);
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };

  beforeAll(async () => {
    redis = await TestRedis.start();
    oauth = await TestOAuthServer.start({ ttlSeconds: TTL_S });
    dovecot = await TestDovecot.start({ users: { 'pw@pushmail.test': 'secret' }, oauth2: { introspectionUrl: oauth.introspectionUrl } });
    sink = await SmtpSink.start({ introspect: (token) => oauth.introspect(token) });
  });
  afterAll(async () => {
    for (const s of services) await s.onModuleDestroy();
    await sink?.stop();
    await dovecot?.dispose();
    await oauth?.stop();
    await redis?.dispose();
  });

  it('the harness refuses forged and expired tokens, and a session stays up after its token expires', async () => {
    const { accessToken } = await oauth.accessToken('alice@pushmail.test', 2);
    const forged = accessToken.slice(0, -4) + (accessToken.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect(await oauth.introspect(forged)).toEqual({ active: false });
    const attempt = (token: string) => new ImapFlow({ ...dovecot.imapSettings('alice@pushmail.test'), auth: { user: 'alice@pushmail.test', accessToken: token }, logger: false });
    const bad = attempt(forged);
    bad.on('error', () => undefined);
    await expect(bad.connect()).rejects.toMatchObject({ authenticationFailed: true });
    const good = attempt(accessToken);
    good.on('error', () => undefined);
    await good.connect();
    await new Promise((r) => setTimeout(r, 3000));
    // Expired now: a new login is refused, the logged-in session keeps working.
    const late = attempt(accessToken);
    late.on('error', () => undefined);
    await expect(late.connect()).rejects.toMatchObject({ authenticationFailed: true });
    expect((await good.mailboxOpen('INBOX')).path).toBe('INBOX');
    await good.logout();
  });

  it('a custom-provider account logs in with XOAUTH2 across three token lifetimes, one refresh per expiry shared by five processes', async () => {
    const user = 'carol@pushmail.test';
    const settings = await custom(user);
    const fleet = Array.from({ length: 5 }, process);
    const lifetimes = 3;
    const started = Date.now();
    while (Date.now() - started < lifetimes * TTL_S * 1000 + 500) {
      // Every process logs in at once, as watchers and fetchers do after a burst.
      const clients = await Promise.all(fleet.map((p) => loginWith(p.factory, settings, 'acc_carol')));
      await Promise.all(clients.map((c) => c.logout()));
      await new Promise((r) => setTimeout(r, 400));
    }
    const stats = await oauth.stats();
    console.log(`oauth: ${stats.refreshes[user]} refreshes for ${fleet.length} processes over ${((Date.now() - started) / 1000).toFixed(1)} s of ${TTL_S} s tokens`);
    // A refresh per 80 % of a lifetime (the first one redeems the stored grant), never two racing
    // a rotating token: a second redemption of the same refresh token would have been refused.
    const expected = Math.ceil((Date.now() - started) / (0.8 * TTL_S * 1000));
    expect(stats.refused.unknown ?? 0).toBe(0);
    expect(stats.refreshes[user]).toBeGreaterThanOrEqual(lifetimes);
    expect(stats.refreshes[user]).toBeLessThanOrEqual(expected + 1);
    // Exactly one refresh per expiry, timed at the server: no two within one token's 80 % (a
    // second process refreshing the same token), and none skipped (each comes when due, within a
    // login round of this loop, generous for a loaded machine).
    const times = stats.refreshTimes[user];
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    console.log(`oauth: refresh gaps ${gaps.map((g) => (g / 1000).toFixed(2)).join(', ')} s (due every ${(0.8 * TTL_S).toFixed(1)} s)`);
    expect(times).toHaveLength(stats.refreshes[user]);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(0.8 * TTL_S * 1000 - 100);
      expect(gap).toBeLessThanOrEqual(0.8 * TTL_S * 1000 + 3000);
    }
    const total = (await Promise.all(fleet.map((p) => p.metrics.registry.getSingleMetricAsString('pushmail_oauth_refreshes_total')))).join('\n');
    expect(total).toMatch(/provider="custom"/);
  });

  it('sends with XOAUTH2 through the SMTP sink, which checks the token', async () => {
    const user = 'dave@pushmail.test';
    const settings = { ...sink.settings(user), pass: undefined, oauth2: (await custom(user)).oauth2 } as ServerSettings;
    const { mailer } = process();
    const raw = await mailer.compose({ from: user, to: 'x@example.test', subject: 'hi', text: 'over xoauth2' });
    const result = await mailer.send({ id: 'acc_dave', protocol: 'imap' }, settings, { from: user, to: ['x@example.test'] }, raw);
    expect(result.accepted).toEqual(['x@example.test']);
    expect(sink.received.at(-1)?.user).toBe(user);
    mailer.onModuleDestroy();
  });

  it('a revoked refresh token fails every process with oauth_revoked after a single refresh attempt', async () => {
    const user = 'erin@pushmail.test';
    const settings = await custom(user);
    const fleet = Array.from({ length: 5 }, process);
    await (await loginWith(fleet[0].factory, settings, 'acc_erin')).logout();
    await oauth.revoke(user);
    await new Promise((r) => setTimeout(r, TTL_S * 1000));
    const before = (await oauth.stats()).refused.unknown ?? 0;
    for (let round = 0; round < 3; round++) {
      const results = await Promise.allSettled(fleet.map((p) => p.factory.create(settings, {}, 'acc_erin')));
      for (const r of results) {
        expect(r.status).toBe('rejected');
        const err = (r as PromiseRejectedResult).reason as OAuthLoginError;
        expect(err).toBeInstanceOf(OAuthLoginError);
        expect(classifyConnectionError(err)).toBe('oauth_revoked');
        expect(err.authenticationFailed).toBe(true);
      }
    }
    expect(((await oauth.stats()).refused.unknown ?? 0) - before).toBe(1);
  });

  it('external accounts log in with pushed tokens and fail as oauth_token_expired once one lapses', async () => {
    const user = 'frank@pushmail.test';
    const settings: ServerSettings = { ...dovecot.imapSettings(user), pass: undefined, oauth2: { provider: 'external' } };
    const { credentials, factory } = process();
    await expect(factory.create(settings, {}, 'acc_frank')).rejects.toMatchObject({ oauthFailure: 'oauth_token_expired', authenticationFailed: true });
    const pushed = await oauth.accessToken(user, 5);
    await credentials.pushAccessToken('acc_frank', pushed.accessToken, new Date(pushed.expiresAt));
    await (await loginWith(factory, settings, 'acc_frank')).logout();
    await new Promise((r) => setTimeout(r, 3000));
    await expect(factory.create(settings, {}, 'acc_frank')).rejects.toMatchObject({ oauthFailure: 'oauth_token_expired' });
  });

  it('a token the server refused is dropped: the next login refreshes once, and a stale refusal changes nothing', async () => {
    const user = 'gina@pushmail.test';
    const settings = await custom(user);
    const { credentials } = process();
    const first = (await credentials.login('acc_gina', settings, 'imap')) as { accessToken: string };
    expect((await credentials.login('acc_gina', settings, 'imap')) as { accessToken: string }).toEqual(first);
    // RS256 signatures are deterministic: a token minted in the same second as another is the same string.
    await new Promise((r) => setTimeout(r, 1100));
    await credentials.refused('acc_gina', settings.oauth2!, first.accessToken, 'imap');
    const second = (await credentials.login('acc_gina', settings, 'imap')) as { accessToken: string };
    expect(second.accessToken).not.toBe(first.accessToken);
    // Another process reporting the old token refused does not throw the new one away.
    await credentials.refused('acc_gina', settings.oauth2!, first.accessToken, 'imap');
    expect(await credentials.login('acc_gina', settings, 'imap')).toEqual(second);
    expect((await oauth.stats()).refreshes[user]).toBe(2);
  });

  it('a token endpoint that is down is backed off (shared by the fleet) and shows as connection_failed, not auth_failed', async () => {
    let hits = 0;
    const down = createServer((_req, res) => {
      hits++;
      res.writeHead(503, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((r) => down.listen(0, '127.0.0.1', r));
    const port = (down.address() as { port: number }).port;
    const settings: ServerSettings = {
      ...dovecot.imapSettings('hank@pushmail.test'),
      pass: undefined,
      oauth2: { provider: 'custom', tokenUrl: `http://127.0.0.1:${port}/token`, clientId: 'c', refreshToken: 'r' },
    };
    const fleet = Array.from({ length: 5 }, process);
    for (let round = 0; round < 3; round++) {
      for (const r of await Promise.allSettled(fleet.map((p) => p.credentials.login('acc_hank', settings, 'imap')))) {
        expect(r.status).toBe('rejected');
        const err = (r as PromiseRejectedResult).reason as OAuthLoginError;
        expect(err.oauthFailure).toBe('oauth_unavailable');
        expect(err.authenticationFailed).toBe(false);
        expect(classifyConnectionError(err)).toBe('connection_failed');
      }
    }
    // Fifteen logins, (almost always) one call: the first failure set a retry time in Redis for
    // every process, drawn from 0–2 s (full jitter), so a second call is possible but rare.
    expect(hits).toBeGreaterThanOrEqual(1);
    expect(hits).toBeLessThanOrEqual(3);
    down.close();
  });

  it('checks a custom token endpoint before every refresh and sends to the address it checked (DNS rebinding)', async () => {
    const user = 'ivan@pushmail.test';
    // A name only this resolver knows: the system resolver cannot find it, so a refresh that
    // succeeds went to the checked (pinned) address, not to a second lookup. (A library-level
    // test: the contract's https rule for token URLs is not applied here.)
    let answer = ['127.0.0.1'];
    const policy = new MailHostPolicy({ allowPrivate: false, allowlist: ['127.0.0.1/32'], resolver: async () => answer });
    const service = new RedisService(new ConfigService({ REDIS_URL: redis.url, LOG_LEVEL: 'warn', SHUTDOWN_TIMEOUT_MS: 1000 }), new HealthService());
    services.push(service);
    const metrics = new MetricsService();
    const credentials = new MailCredentialProvider(service, new CredentialCipher(TEST_SECRET_KEY), new MailNetworkSettings(policy, true), {}, metrics);
    const settings: ServerSettings = {
      ...dovecot.imapSettings(user),
      pass: undefined,
      oauth2: { provider: 'custom', tokenUrl: `http://idp.rebind.test:${oauth.port}/token`, clientId: 'pushmail-test', refreshToken: await oauth.grant(user) },
    };
    const first = await credentials.login('acc_ivan', settings, 'imap');
    expect('accessToken' in first && (await oauth.introspect(first.accessToken)).active).toBe(true);
    expect((await oauth.stats()).refreshes[user]).toBe(1);

    // The name now answers with an address the operator does not allow: the refresh that comes
    // due is refused before any connection, and nothing reaches the token endpoint.
    answer = ['10.0.0.5'];
    await new Promise((r) => setTimeout(r, 0.8 * TTL_S * 1000 + 200));
    await expect(credentials.login('acc_ivan', settings, 'imap')).rejects.toMatchObject({ oauthFailure: 'oauth_unavailable' });
    expect(await metrics.registry.getSingleMetricAsString('pushmail_oauth_refresh_failures_total')).toMatch(/reason="host_not_allowed"} 1/);
    expect((await oauth.stats()).refreshes[user]).toBe(1);
  });

  it('IMAP logs in with OAUTHBEARER where the server offers only it, and with XOAUTH2 where it offers only that', async () => {
    for (const mechanism of ['oauthbearer', 'xoauth2'] as const) {
      const user = `${mechanism}@pushmail.test`;
      // The later auth_mechanisms line wins over the harness's "xoauth2 oauthbearer".
      const single = await TestDovecot.start({ oauth2: { introspectionUrl: oauth.introspectionUrl }, extraConfig: `auth_mechanisms = plain login ${mechanism}` });
      try {
        const { factory } = process();
        const settings: ServerSettings = { ...(await custom(user)), port: single.imapPort };
        const client = await loginWith(factory, settings, `acc_${mechanism}`);
        expect((await client.mailboxOpen('INBOX')).path).toBe('INBOX');
        await client.logout();
        await waitFor(() => /Login: user=<[^>]+>, method=([A-Z0-9]+)/.exec(single.logs())?.[1], 5000, 'the login in the Dovecot log').then((method) => expect(method).toBe(mechanism.toUpperCase()));
      } finally {
        await single.dispose();
      }
    }
  });

  it('an account deleted while its refresh is in flight keeps no cached entry (the failure write is fenced)', async () => {
    // A token endpoint that answers 503 after a while: the account is deleted meanwhile, the way
    // AccountRepository.delete removes every key of it (lock included).
    const slow = createServer((_req, res) => setTimeout(() => res.writeHead(503, { 'content-type': 'application/json' }).end('{}'), 800));
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    try {
      const settings: ServerSettings = {
        ...dovecot.imapSettings('judy@pushmail.test'),
        pass: undefined,
        oauth2: { provider: 'custom', tokenUrl: `http://127.0.0.1:${(slow.address() as { port: number }).port}/token`, clientId: 'c', refreshToken: 'r' },
      };
      const { credentials } = process();
      const login = credentials.login('acc_judy', settings, 'imap');
      const probe = redis.client();
      try {
        await waitFor(async () => (await probe.keys('*{acc_judy}*')).some((k) => k.endsWith(':lock')), 2000, 'the refresh lock');
        await services[0].unlinkMatching('*{acc_judy}*');
        await expect(login).rejects.toMatchObject({ oauthFailure: 'oauth_unavailable' });
        expect(await probe.keys('*{acc_judy}*')).toEqual([]);
      } finally {
        probe.disconnect();
      }
    } finally {
      slow.close();
    }
  });

  it('passwords still work beside OAuth on the same Dovecot', async () => {
    const { factory } = process();
    await (await loginWith(factory, dovecot.imapSettings('pw@pushmail.test'), 'acc_pw')).logout();
  });
});
