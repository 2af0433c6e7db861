import { signClientToken } from '@pushmail/auth';
import { AppProcess, REPO_ROOT, SmtpSink, TestDovecot, TestOAuthServer, TestRedis, builtAppPath, freeConsecutivePorts, testEnv } from '@pushmail/testing';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, Page, chromium } from 'playwright-core';

/**
 * Issue 19, "Sign in with…" in the web client, in Debian's Chromium: the add-account dialog shows
 * the operator's provider (the test OAuth server, configured as OAUTH_SIGNIN_CUSTOM), the button
 * goes through the provider's authorize endpoint and the gateway's callback, and the account it
 * creates connects to Dovecot with XOAUTH2 (built watcher, fetcher and gateway).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
jest.setTimeout(120_000);

describe('web client: Sign in with… (OAuth)', () => {
  let redis: TestRedis;
  let oauth: TestOAuthServer;
  let dovecot: TestDovecot;
  let sink: SmtpSink;
  const apps: AppProcess[] = [];
  let gatewayUrl: string;
  let browser: Browser;
  let page: Page;
  const user = 'heidi@pushmail.test';
  const pageErrors: string[] = [];

  beforeAll(async () => {
    for (const app of ['watcher', 'fetcher', 'gateway'] as const) builtAppPath(app);
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium, or set CHROMIUM_PATH`);
    if (!existsSync(join(REPO_ROOT, 'dist/web/index.html'))) throw new Error('dist/web is missing: run `npm run build` first');
    [redis, oauth] = await Promise.all([TestRedis.start(), TestOAuthServer.start({ ttlSeconds: 30 })]);
    [dovecot, sink] = await Promise.all([
      TestDovecot.start({ users: { [user]: 'unused-password' }, oauth2: { introspectionUrl: oauth.introspectionUrl } }),
      SmtpSink.start({ introspect: (token) => oauth.introspect(token) }),
    ]);
    await oauth.setLoginUser(user);
    const env = testEnv(redis.url);
    // The gateway is spawned on a port named in advance (its PUBLIC_URL): one below the ephemeral range, which no other process's listen(0) or connection can take while it boots.
    const port = await freeConsecutivePorts(1);
    gatewayUrl = `http://127.0.0.1:${port}`;
    const signIn = {
      label: 'Test IdP',
      authorizeUrl: `${oauth.url}/authorize`,
      tokenUrl: oauth.tokenUrl,
      clientId: 'pushmail-web',
      scope: 'openid email offline_access',
      imap: { host: '127.0.0.1', port: dovecot.imapPort, secure: false },
      smtp: { host: '127.0.0.1', port: sink.port, secure: false },
    };
    apps.push(
      ...(await Promise.all([
        AppProcess.start('watcher', { ...env, RECONCILE_INTERVAL_MS: '1000' }),
        AppProcess.start('fetcher', env),
        AppProcess.start('gateway', { ...env, PORT: String(port), PUBLIC_URL: gatewayUrl, OAUTH_SIGNIN_CUSTOM: JSON.stringify(signIn) }),
      ])),
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all(apps.map((a) => a.stop()));
    await sink?.stop();
    await dovecot?.dispose();
    await oauth?.stop();
    await redis?.dispose();
  }, 60_000);

  it('clicks "Sign in with Test IdP", signs in at the provider, and sees the account connected', async () => {
    const token = await signClientToken('web-oauth', testEnv(redis.url).AUTH_JWT_SECRET!, { expiresInSeconds: 3600 });
    await page.goto(`${gatewayUrl}/#token=${token}`);
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: '+ Add account' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add an account' });
    // The password form stays for other providers.
    await dialog.getByLabel('Password').waitFor();
    const exchangesBefore = (await oauth.stats()).codeExchanges;
    // The test provider signs in at once: authorize → callback → the web client, in one navigation chain.
    await dialog.getByRole('button', { name: 'Sign in with Test IdP' }).click();
    // Back in the web client: the notice says so, the address bar is clean, the account connects.
    await page.getByText('Account added').waitFor({ timeout: 15_000 });
    expect(new URL(page.url()).search).toBe('');
    const added = page.locator('.accounts li', { hasText: user });
    await added.locator('.state-connected').waitFor({ timeout: 30_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}\nrow: ${await added.innerText().catch(() => '(none)')}\n${apps.map((a) => a.logs().slice(-2000)).join('\n')}`);
    });
    expect((await oauth.stats()).codeExchanges).toBe(exchangesBefore + 1);

    // Mail delivered now is pushed to the page over the OAuth login.
    await dovecot.deliver(user, { subject: 'hello over xoauth2', messageId: '<web-oauth-1@pushmail.test>' });
    await page.locator('.msg', { hasText: 'hello over xoauth2' }).waitFor({ timeout: 20_000 });
    expect(pageErrors).toEqual([]);
  });

  it('a forged state at the callback is 400 and adds nothing', async () => {
    const res = await page.request.get(`${gatewayUrl}/api/oauth/callback?code=forged&state=${'A'.repeat(43)}`, { maxRedirects: 0 });
    expect(res.status()).toBe(400);
    expect(await res.json()).toMatchObject({ field: 'state' });
    const token = await signClientToken('web-oauth', testEnv(redis.url).AUTH_JWT_SECRET!, { expiresInSeconds: 3600 });
    const views = (await (await fetch(`${gatewayUrl}/api/me/accounts`, { headers: { authorization: `Bearer ${token}` } })).json()) as unknown[];
    expect(views).toHaveLength(1);
  });
});
