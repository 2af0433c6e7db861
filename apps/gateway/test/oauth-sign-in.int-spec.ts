import { INestApplication } from '@nestjs/common';
import { KEY_PREFIX } from '@pushmail/contracts';
import { freePort, SmtpSink, TestDovecot, TestOAuthServer, TestRedis, waitFor } from '@pushmail/testing';
import { createHash } from 'node:crypto';
import { bootstrap } from '../src/bootstrap';
import { call, connect, gatewayEnv, okAck, tokenFor } from './helpers';

/**
 * Issue 19, "Sign in with…": the authorization-code flow with PKCE against the real OAuth test
 * server (configured as the operator's own provider, OAUTH_SIGNIN_CUSTOM), Dovecot validating the
 * resulting XOAUTH2 logins at the server's strict introspection endpoint. The browser is played by
 * fetch with manual redirects, carrying the cookie the start call sets.
 */
jest.setTimeout(60_000);

describe('OAuth sign-in flow (authorization code + PKCE)', () => {
  let redis: TestRedis;
  let oauth: TestOAuthServer;
  let dovecot: TestDovecot;
  let sink: SmtpSink;
  let app: INestApplication;
  let url: string;
  const user = 'grace@pushmail.test';

  const asUser = async (userId: string, path: string) => fetch(url + path, { headers: { authorization: `Bearer ${await tokenFor(userId)}` } });
  /** Starts a sign-in as `userId`: the consent URL and the cookie the gateway set on the "browser". */
  const start = async (userId: string) => {
    const res = await asUser(userId, '/api/me/oauth/custom/start');
    expect(res.status).toBe(200);
    const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0];
    expect(res.headers.get('set-cookie')).toMatch(/HttpOnly/i);
    return { consent: ((await res.json()) as { url: string }).url, cookie };
  };
  /** The provider's consent step (the test server signs in at once) → the callback URL it redirects to. */
  const consent = async (consentUrl: string) => {
    const res = await fetch(consentUrl, { redirect: 'manual' });
    expect(res.status).toBe(302);
    return res.headers.get('location')!;
  };
  const callback = (callbackUrl: string, cookie?: string) => fetch(callbackUrl, { redirect: 'manual', headers: cookie ? { cookie } : {} });
  const accounts = async (userId: string) => (await (await asUser(userId, '/api/me/accounts')).json()) as Array<{ id: string; email: string }>;

  beforeAll(async () => {
    [redis, oauth] = await Promise.all([TestRedis.start(), TestOAuthServer.start({ ttlSeconds: 20 })]);
    [dovecot, sink] = await Promise.all([
      TestDovecot.start({ users: { [user]: 'unused-password' }, oauth2: { introspectionUrl: oauth.introspectionUrl } }),
      SmtpSink.start({ introspect: (token) => oauth.introspect(token) }),
    ]);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const custom = {
      label: 'Test IdP',
      authorizeUrl: `${oauth.url}/authorize`,
      tokenUrl: oauth.tokenUrl,
      clientId: 'pushmail-web',
      clientSecret: 'test-secret',
      scope: 'openid email offline_access mail',
      imap: { host: '127.0.0.1', port: dovecot.imapPort, secure: false },
      smtp: { host: '127.0.0.1', port: sink.port, secure: false },
    };
    app = await bootstrap({ env: gatewayEnv(redis.url, { PORT: String(port), PUBLIC_URL: `${url}/`, OAUTH_SIGNIN_CUSTOM: JSON.stringify(custom) }) });
    await oauth.setLoginUser(user);
  });
  afterAll(async () => {
    await app?.close();
    await sink?.stop();
    await dovecot?.dispose();
    await oauth?.stop();
    await redis?.dispose();
  });

  it('lists the configured provider, and 404 naming provider for one that is not', async () => {
    expect(await (await asUser('u-list', '/api/me/oauth/providers')).json()).toEqual([{ id: 'custom', label: 'Test IdP' }]);
    for (const name of ['google', 'yahoo']) {
      const res = await asUser('u-list', `/api/me/oauth/${name}/start`);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ field: 'provider' });
    }
    expect((await fetch(`${url}/api/me/oauth/custom/start`)).status).toBe(401);
  });

  it('sends the browser to the provider with PKCE S256 and a state, and creates a working XOAUTH2 account at the callback', async () => {
    const { consent: consentUrl, cookie } = await start('u-flow');
    const params = new URL(consentUrl).searchParams;
    expect(consentUrl.startsWith(`${oauth.url}/authorize?`)).toBe(true);
    expect(Object.fromEntries(params)).toMatchObject({ response_type: 'code', client_id: 'pushmail-web', redirect_uri: `${url}/api/oauth/callback`, code_challenge_method: 'S256' });
    expect(params.get('state')).toMatch(/^[\w-]{43}$/);
    expect(params.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    const exchangesBefore = (await oauth.stats()).codeExchanges;

    const back = await callback(await consent(consentUrl), cookie);
    expect(back.status).toBe(303);
    const landing = new URL(back.headers.get('location')!);
    expect(landing.origin + landing.pathname).toBe(`${url}/`);
    expect(landing.searchParams.get('oauth')).toBe('connected');
    // The test server verifies the PKCE verifier against the challenge: a wrong one would have been a 500 there.
    expect((await oauth.stats()).codeExchanges).toBe(exchangesBefore + 1);

    const mine = await accounts('u-flow');
    expect(mine).toEqual([expect.objectContaining({ id: landing.searchParams.get('account'), email: user })]);
    // The gateway's send worker logs in to the sink with XOAUTH2: an access token redeemed with the
    // stored (encrypted) refresh token, which the sink checks at the strict introspection endpoint.
    const socket = await connect(url, await tokenFor('u-flow'));
    try {
      okAck(await call(socket, 'message.send', { accountId: mine[0].id, idempotencyKey: 'signed-in', to: [{ address: 'x@example.test' }], subject: 'first mail after sign-in', text: 'over XOAUTH2' }));
      await waitFor(() => sink.received.find((m) => m.user === user && m.raw.includes('first mail after sign-in')), 20_000, 'the mail at the sink');
    } finally {
      socket.close();
    }
    expect((await oauth.stats()).refreshes[user]).toBeGreaterThanOrEqual(1);
    // Nothing of the grant in what the API returns.
    expect(JSON.stringify(mine)).not.toMatch(/refresh|oauth2|secret/i);

    // Deleting the account deletes its cached (encrypted) access and refresh tokens with it.
    const probe = redis.client();
    try {
      const cached = () => probe.keys(`*:oauth:{${mine[0].id}}*`);
      expect(await cached()).not.toEqual([]);
      const removed = await fetch(`${url}/api/me/accounts/${mine[0].id}`, { method: 'DELETE', headers: { authorization: `Bearer ${await tokenFor('u-flow')}` } });
      expect(removed.status).toBe(204);
      expect(await cached()).toEqual([]);
    } finally {
      probe.disconnect();
    }
  });

  it('refuses a forged, reused or foreign state with 400 naming it, and creates nothing', async () => {
    const expectRefused = async (res: Response) => {
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ statusCode: 400, field: 'state' });
    };
    // Forged: a state the gateway never issued.
    const { consent: consentUrl, cookie } = await start('u-forged');
    const forged = new URL(await consent(consentUrl));
    forged.searchParams.set('state', 'A'.repeat(43));
    await expectRefused(await callback(forged.toString(), cookie));
    await expectRefused(await callback(`${url}/api/oauth/callback?code=x`, cookie));
    expect(await accounts('u-forged')).toEqual([]);

    // Foreign: the consent link finished in a browser other than the one that started it.
    const foreign = await start('u-foreign');
    await expectRefused(await callback(await consent(foreign.consent)));
    expect(await accounts('u-foreign')).toEqual([]);

    // Reused: the first callback creates the account, a replay of it nothing more.
    const once = await start('u-replay');
    const callbackUrl = await consent(once.consent);
    expect((await callback(callbackUrl, once.cookie)).status).toBe(303);
    await expectRefused(await callback(callbackUrl, once.cookie));
    expect(await accounts('u-replay')).toHaveLength(1);
  });

  it('a state lives 10 minutes: an expired one is 400 naming it and creates nothing', async () => {
    const { consent: consentUrl, cookie } = await start('u-expired');
    const probe = redis.client();
    try {
      // Redis holds the state's hash only.
      const key = `${KEY_PREFIX}:oauth-signin:${createHash('sha256').update(new URL(consentUrl).searchParams.get('state')!).digest('base64url')}`;
      const ttl = await probe.ttl(key);
      expect(ttl).toBeGreaterThan(590);
      expect(ttl).toBeLessThanOrEqual(600);
      // Let it run out now rather than in ten minutes.
      await probe.pexpire(key, 1);
      await new Promise((r) => setTimeout(r, 20));
    } finally {
      probe.disconnect();
    }
    const res = await callback(await consent(consentUrl), cookie);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ field: 'state', message: expect.stringContaining('expired') });
    expect(await accounts('u-expired')).toEqual([]);
  });

  it('sends Google and Microsoft users to their consent pages with the mail scopes and offline access (no call to either)', async () => {
    const other = await freePort();
    const presets = await bootstrap({
      env: gatewayEnv(redis.url, {
        PORT: String(other),
        PUBLIC_URL: 'https://mail.example.test',
        OAUTH_GOOGLE_CLIENT_ID: 'google-client',
        OAUTH_GOOGLE_CLIENT_SECRET: 'google-secret',
        OAUTH_MICROSOFT_CLIENT_ID: 'ms-client',
        OAUTH_MICROSOFT_TENANT: 'contoso.onmicrosoft.com',
      }),
    });
    const bare = await freePort();
    const unconfigured = await bootstrap({ env: gatewayEnv(redis.url, { PORT: String(bare), OAUTH_GOOGLE_CLIENT_ID: 'google-client' }) });
    try {
      const get = async (base: number, path: string) => fetch(`http://127.0.0.1:${base}${path}`, { headers: { authorization: `Bearer ${await tokenFor('u-presets')}` } });
      expect(await (await get(other, '/api/me/oauth/providers')).json()).toEqual([
        { id: 'google', label: 'Google' },
        { id: 'microsoft', label: 'Microsoft' },
      ]);
      const google = await get(other, '/api/me/oauth/google/start');
      // https PUBLIC_URL: the browser cookie is Secure too.
      expect(google.headers.get('set-cookie')).toMatch(/Secure/);
      const g = new URL(((await google.json()) as { url: string }).url);
      expect(g.origin + g.pathname).toBe('https://accounts.google.com/o/oauth2/v2/auth');
      expect(Object.fromEntries(g.searchParams)).toMatchObject({
        client_id: 'google-client',
        redirect_uri: 'https://mail.example.test/api/oauth/callback',
        scope: 'openid email https://mail.google.com/',
        access_type: 'offline',
        prompt: 'consent',
        code_challenge_method: 'S256',
      });
      const m = new URL(((await (await get(other, '/api/me/oauth/microsoft/start')).json()) as { url: string }).url);
      expect(m.origin + m.pathname).toBe('https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize');
      expect(m.searchParams.get('scope')).toBe('openid email offline_access https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send');
      // Without PUBLIC_URL there is no redirect URI: nothing is offered, even with a client id.
      expect(await (await get(bare, '/api/me/oauth/providers')).json()).toEqual([]);
      expect((await get(bare, '/api/me/oauth/google/start')).status).toBe(404);
    } finally {
      await presets.close();
      await unconfigured.close();
    }
  });

  it('documents the oauth2 credential and the sign-in routes in the OpenAPI document', async () => {
    type Schema = { properties: Record<string, { enum?: string[]; writeOnly?: boolean; $ref?: string; allOf?: Array<{ $ref: string }> }>; required?: string[] };
    const spec = (await (await fetch(`${url}/api/docs-json`)).json()) as { paths: Record<string, unknown>; components: { schemas: Record<string, Schema> } };
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/api/me/oauth/providers', '/api/me/oauth/{provider}/start', '/api/oauth/callback']));
    const { OAuth2CredentialDto: credential, ServerSettingsDto: settings } = spec.components.schemas;
    expect(credential.properties.provider.enum).toEqual(['google', 'microsoft', 'custom', 'external']);
    expect(credential.properties.refreshToken.writeOnly).toBe(true);
    expect(credential.properties.clientSecret.writeOnly).toBe(true);
    expect(JSON.stringify(settings.properties.oauth2)).toContain('OAuth2CredentialDto');
    // Exactly one of pass / oauth2: neither is required on its own.
    expect(settings.required ?? []).not.toContain('pass');
  });

  it('a sign-in the user declines at the provider returns to the web client with oauth_error and creates nothing', async () => {
    const { consent: consentUrl, cookie } = await start('u-declined');
    const state = new URL(consentUrl).searchParams.get('state')!;
    const res = await callback(`${url}/api/oauth/callback?error=access_denied&state=${state}`, cookie);
    expect(res.status).toBe(303);
    expect(new URL(res.headers.get('location')!).searchParams.get('oauth_error')).toBe('access_denied');
    expect(await accounts('u-declined')).toEqual([]);
  });
});
