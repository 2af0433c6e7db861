import { ServerEvent } from '@pushmail/contracts';
import { AppProcess, SmtpSink, TestDovecot, TestOAuthServer, TestRedis, sleep, testEnv, waitFor } from '@pushmail/testing';
import { ADMIN_TOKEN, ClientSocket, call, connect, gatewayEnv, okAck, record, tokenFor } from '../../apps/gateway/test/helpers';

/**
 * Issue 19 with the built apps: OAuth 2 accounts (`custom` provider and `external`) against a real
 * OAuth server with 20 s tokens, Dovecot validating XOAUTH2 at its strict introspection endpoint,
 * and an SMTP sink doing the same; three watchers, two fetchers and a gateway share the accounts.
 */
const TTL_S = 20;
jest.setTimeout(240_000);

describe('OAuth 2 accounts through the whole fleet', () => {
  let redis: TestRedis;
  let oauth: TestOAuthServer;
  let dovecot: TestDovecot;
  let sink: SmtpSink;
  const apps: AppProcess[] = [];
  let gateway: AppProcess;
  const sockets: ClientSocket[] = [];
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

  const view = async (id: string) => (await (await fetch(`${gateway.url}/api/accounts/${id}`, { headers: admin })).json()) as { state: string; error?: string };
  const createAccount = async (user: string, oauth2: Record<string, unknown>, smtp = sink.settings(user)) => {
    const res = await fetch(`${gateway.url}/api/accounts`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ userId: 'u1', email: user, imap: { ...dovecot.imapSettings(user), pass: undefined, oauth2 }, smtp: { ...smtp, pass: undefined, oauth2 } }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };
  const customGrant = async (user: string) => ({ provider: 'custom', tokenUrl: oauth.tokenUrl, clientId: 'pushmail-test', refreshToken: await oauth.grant(user) });

  beforeAll(async () => {
    [redis, oauth] = await Promise.all([TestRedis.start(), TestOAuthServer.start({ ttlSeconds: TTL_S })]);
    [dovecot, sink] = await Promise.all([
      // LMTP delivers only to users the passwd-file knows; their passwords are never used here.
      TestDovecot.start({
        users: Object.fromEntries(['carol', 'dave', 'erin', 'frank'].map((u) => [`${u}@pushmail.test`, 'unused-password'])),
        oauth2: { introspectionUrl: oauth.introspectionUrl },
      }),
      SmtpSink.start({ introspect: (token) => oauth.introspect(token) }),
    ]);
    const common = testEnv(redis.url);
    const watcherEnv = { ...common, RECONCILE_INTERVAL_MS: '1000', BACKOFF_MIN_MS: '200', BACKOFF_MAX_MS: '2000' };
    // Short pool idle times: the fetchers log in again and again, across token lifetimes.
    const fetcherEnv = { ...common, FETCH_POOL_IDLE_MS: '1000', FETCH_POOL_EXTRA_IDLE_MS: '1000' };
    apps.push(
      ...(await Promise.all([
        AppProcess.start('watcher', { ...watcherEnv, INSTANCE_ID: 'w1' }),
        AppProcess.start('watcher', { ...watcherEnv, INSTANCE_ID: 'w2' }),
        AppProcess.start('watcher', { ...watcherEnv, INSTANCE_ID: 'w3' }),
        AppProcess.start('fetcher', { ...fetcherEnv, INSTANCE_ID: 'f1' }),
        AppProcess.start('fetcher', { ...fetcherEnv, INSTANCE_ID: 'f2' }),
        AppProcess.start('gateway', { ...gatewayEnv(redis.url), PUSHMAIL_SECRET_KEY: common.PUSHMAIL_SECRET_KEY }),
      ])),
    );
    gateway = apps[5];
  });
  afterEach(() => sockets.splice(0).forEach((s) => s.close()));
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop()));
    await sink?.stop();
    await dovecot?.dispose();
    await oauth?.stop();
    await redis?.dispose();
  });

  it('custom-provider accounts get pushed mail across three token lifetimes with one refresh per expiry, and reply with XOAUTH2', async () => {
    const users = ['carol@pushmail.test', 'dave@pushmail.test'];
    const ids = await Promise.all(users.map(async (u) => createAccount(u, await customGrant(u))));
    await waitFor(async () => (await Promise.all(ids.map(view))).every((v) => v.state === 'connected'), 30_000, 'the accounts to connect', 200);
    const socket = await connect(gateway.url, await tokenFor('u1'));
    sockets.push(socket);
    const seen = record(socket);
    for (const id of ids) okAck(await call(socket, 'subscribe', { accountId: id }));
    const started = Date.now();
    let n = 0;
    while (Date.now() - started < 3 * TTL_S * 1000 + 2000) {
      n++;
      for (const u of users) await dovecot.deliver(u, { subject: `tick ${n}`, messageId: `<oauth-${n}-${u}>` });
      await waitFor(() => users.every((u) => seen.some((e) => e.name === ServerEvent.MessageNew && e.payload.messageId === `<oauth-${n}-${u}>`)), 20_000, `message ${n}`, 50);
      await sleep(2500);
    }
    const elapsed = Date.now() - started;
    const stats = await oauth.stats();
    console.log(`oauth fleet: ${n} deliveries per account over ${(elapsed / 1000).toFixed(0)} s; refreshes ${JSON.stringify(stats.refreshes)}, refused ${JSON.stringify(stats.refused)}`);
    // Each refresh redeems the previous (rotating) refresh token: a race between two processes
    // would have been refused. One refresh per 80 % of a lifetime, per account, at most.
    expect(stats.refused).toEqual({});
    const windows = Math.ceil((elapsed + 30_000) / (0.8 * TTL_S * 1000));
    for (const u of users) {
      expect(stats.refreshes[u]).toBeGreaterThanOrEqual(3);
      expect(stats.refreshes[u]).toBeLessThanOrEqual(windows + 1);
      // Exactly one refresh per expiry across the five processes, timed at the server: never two
      // within one token's 80 %, and each within a watcher's 3 s credential check (plus slack) of
      // being due, so none is skipped either.
      const times = stats.refreshTimes[u];
      const gaps = times.slice(1).map((t, i) => t - times[i]);
      console.log(`oauth fleet: ${u} refresh gaps ${gaps.map((g) => (g / 1000).toFixed(1)).join(', ')} s (due every ${(0.8 * TTL_S).toFixed(0)} s)`);
      for (const gap of gaps) {
        expect(gap).toBeGreaterThanOrEqual(0.8 * TTL_S * 1000 - 100);
        expect(gap).toBeLessThanOrEqual(0.8 * TTL_S * 1000 + 6000);
      }
    }
    const original = seen.find((e) => e.name === ServerEvent.MessageNew && e.payload.messageId === `<oauth-1-${users[0]}>`)!.payload as { uid: number };
    okAck(await call(socket, 'message.send', { accountId: ids[0], idempotencyKey: 'oauth-reply', to: [{ address: 'x@example.test' }], subject: 'Re: tick 1', text: 'over XOAUTH2', inReplyTo: { mailbox: 'INBOX', uid: original.uid } }));
    await waitFor(() => sink.received.find((m) => m.user === users[0] && m.raw.includes('Re: tick 1')), 30_000, 'the reply at the sink');
  });

  it('a revoked refresh token turns the account auth_failed / oauth_revoked within one lifetime, after at most 3 refresh attempts', async () => {
    const user = 'erin@pushmail.test';
    const id = await createAccount(user, await customGrant(user));
    await waitFor(async () => (await view(id)).state === 'connected', 30_000, 'erin to connect', 200);
    const refusedBefore = (await oauth.stats()).refused.unknown ?? 0;
    await oauth.revoke(user);
    const revokedAt = Date.now();
    await waitFor(async () => {
      const v = await view(id);
      return v.state === 'auth_failed' && v.error === 'oauth_revoked';
    }, TTL_S * 1000 + 5000, 'auth_failed / oauth_revoked', 250);
    console.log(`oauth revocation noticed after ${((Date.now() - revokedAt) / 1000).toFixed(1)} s`);
    await sleep(5000);
    expect(((await oauth.stats()).refused.unknown ?? 0) - refusedBefore).toBeLessThanOrEqual(3);
  });

  it('external accounts log in with pushed tokens and go to auth_failed when one lapses without a new one', async () => {
    const user = 'frank@pushmail.test';
    const pushed = await oauth.accessToken(user, 12);
    const id = await createAccount(user, { provider: 'external' });
    const put = (body: unknown) => fetch(`${gateway.url}/api/accounts/${id}/access-token`, { method: 'PUT', headers: admin, body: JSON.stringify(body) });
    // No token yet: the watcher's login cannot be attempted.
    await waitFor(async () => {
      const v = await view(id);
      return v.state === 'auth_failed' && v.error === 'oauth_token_expired';
    }, 30_000, 'auth_failed before any token was pushed', 250);
    expect((await put({ accessToken: pushed.accessToken, expiresAt: 'soon' })).status).toBe(400);
    // The pushed token brings the account back at once (it was in auth_failed).
    expect((await put(pushed)).status).toBe(204);
    await waitFor(async () => (await view(id)).state === 'connected', 30_000, 'frank to connect with the pushed token', 200);
    await waitFor(async () => {
      const v = await view(id);
      return v.state === 'auth_failed' && v.error === 'oauth_token_expired';
    }, 30_000, 'auth_failed once the pushed token lapsed', 250);
    // A new token brings it back at once.
    expect((await put(await oauth.accessToken(user, 60))).status).toBe(204);
    await waitFor(async () => (await view(id)).state === 'connected', 30_000, 'frank to reconnect with a new token', 200);
  });
});
