import { ServerEvent } from '@pushmail/contracts';
import { AppProcess, TestDovecot, TestOAuthServer, TestRedis, sleep, testEnv, waitFor } from '@pushmail/testing';
import { ADMIN_TOKEN, ClientSocket, call, connect, gatewayEnv, okAck, record, tokenFor } from '../../apps/gateway/test/helpers';

/**
 * Issue 19 for POP3 with the built apps: POP3 accounts with `oauth2: { provider: 'custom' }`
 * against a real OAuth server with 10 s tokens and Dovecot's POP3 validating XOAUTH2 at its strict
 * introspection endpoint. Every POP3 login goes through the credential provider: the watcher's
 * polls, the fetcher's reads and the gateway's RETR of a part the fetcher did not keep.
 */
const TTL_S = 10;
jest.setTimeout(180_000);

const ATTACHMENT = Buffer.from('%PDF-1.4 pop3 oauth attachment\n');
const withAttachment = (subject: string, messageId: string) =>
  [
    'From: a@example.test',
    'To: sam@pushmail.test',
    `Subject: ${subject}`,
    `Message-ID: ${messageId}`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'see attached',
    '--b1',
    'Content-Type: application/pdf; name="report.pdf"',
    'Content-Disposition: attachment; filename="report.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    ATTACHMENT.toString('base64'),
    '--b1--',
    '',
  ].join('\r\n');

describe('POP3 OAuth 2 accounts through watcher, fetcher and gateway', () => {
  let redis: TestRedis;
  let oauth: TestOAuthServer;
  let dovecot: TestDovecot;
  const apps: AppProcess[] = [];
  let gateway: AppProcess;
  const sockets: ClientSocket[] = [];
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

  const view = async (id: string) => (await (await fetch(`${gateway.url}/api/accounts/${id}`, { headers: admin })).json()) as { state: string; error?: string; protocol?: string };
  const createAccount = async (user: string, external = false) => {
    const oauth2 = external ? { provider: 'external' } : { provider: 'custom', tokenUrl: oauth.tokenUrl, clientId: 'pushmail-test', refreshToken: await oauth.grant(user) };
    const pop3 = { ...dovecot.pop3Settings(user), pass: undefined, oauth2 };
    const res = await fetch(`${gateway.url}/api/accounts`, {
      method: 'POST',
      headers: admin,
      // SMTP is never used here; a password, so that only `pop3` makes an account OAuth (external).
      body: JSON.stringify({ userId: 'u1', email: user, pop3, smtp: { ...dovecot.pop3Settings(user), port: 2525 }, pollIntervalSeconds: 1 }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };

  beforeAll(async () => {
    [redis, oauth] = await Promise.all([TestRedis.start(), TestOAuthServer.start({ ttlSeconds: TTL_S })]);
    // LMTP delivers only to users the passwd-file knows; their passwords are never used here.
    dovecot = await TestDovecot.start({
      users: Object.fromEntries(['sam', 'tess', 'ugo'].map((u) => [`${u}@pushmail.test`, 'unused-password'])),
      oauth2: { introspectionUrl: oauth.introspectionUrl },
    });
    const common = testEnv(redis.url);
    apps.push(
      ...(await Promise.all([
        AppProcess.start('watcher', { ...common, RECONCILE_INTERVAL_MS: '1000', BACKOFF_MIN_MS: '200', BACKOFF_MAX_MS: '2000', INSTANCE_ID: 'w1' }),
        // Nothing kept raw: a part is read again from the server by the gateway (RETR).
        AppProcess.start('fetcher', { ...common, POP3_RAW_KEEP_BYTES: '0', INSTANCE_ID: 'f1' }),
        AppProcess.start('gateway', { ...gatewayEnv(redis.url), PUSHMAIL_SECRET_KEY: common.PUSHMAIL_SECRET_KEY, POP3_MIN_POLL_SECONDS: '1' }),
      ])),
    );
    gateway = apps[2];
  });
  afterEach(() => sockets.splice(0).forEach((s) => s.close()));
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop()));
    await dovecot?.dispose();
    await oauth?.stop();
    await redis?.dispose();
  });

  it('pushes mail polled with XOAUTH2 across three token lifetimes, and the gateway reads a part again over XOAUTH2', async () => {
    const user = 'sam@pushmail.test';
    const id = await createAccount(user);
    await waitFor(async () => (await view(id)).state === 'connected', 30_000, 'the POP3 account to poll', 200);
    const socket = await connect(gateway.url, await tokenFor('u1'));
    sockets.push(socket);
    const seen = record(socket);
    okAck(await call(socket, 'subscribe', { accountId: id }));
    const started = Date.now();
    let n = 0;
    while (Date.now() - started < 3 * TTL_S * 1000 + 1000) {
      n++;
      await dovecot.deliver(user, withAttachment(`tick ${n}`, `<pop3-oauth-${n}>`));
      await waitFor(() => seen.some((e) => e.name === ServerEvent.MessageNew && e.payload.messageId === `<pop3-oauth-${n}>`), 20_000, `message ${n}`, 50);
      await sleep(2000);
    }
    const elapsed = Date.now() - started;
    const stats = await oauth.stats();
    console.log(`pop3 oauth fleet: ${n} deliveries over ${(elapsed / 1000).toFixed(0)} s; refreshes ${stats.refreshes[user]}, refused ${JSON.stringify(stats.refused)}`);
    expect(stats.refused).toEqual({});
    expect(stats.refreshes[user]).toBeGreaterThanOrEqual(3);
    expect(stats.refreshes[user]).toBeLessThanOrEqual(Math.ceil((elapsed + 30_000) / (0.8 * TTL_S * 1000)) + 1);
    const methods = new Set([...dovecot.logs().matchAll(/pop3-login:[^\n]*Login: user=<sam@pushmail\.test>, method=([A-Z0-9]+)/g)].map((m) => m[1]));
    expect(methods).toEqual(new Set(['XOAUTH2']));
    expect((await view(id)).state).toBe('connected');

    const first = seen.find((e) => e.name === ServerEvent.MessageNew && e.payload.messageId === '<pop3-oauth-1>')!.payload as { uid: number };
    const logins = (dovecot.logs().match(/pop3-login:[^\n]*Login: user=<sam@/g) ?? []).length;
    const res = await fetch(`${gateway.url}/api/accounts/${id}/messages/INBOX/${first.uid}/parts/2`, { headers: { authorization: `Bearer ${await tokenFor('u1')}` } });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(ATTACHMENT)).toBe(true);
    // The gateway's own login (RETR) is one of those after the request, by XOAUTH2 like the rest.
    expect((dovecot.logs().match(/pop3-login:[^\n]*Login: user=<sam@/g) ?? []).length).toBeGreaterThan(logins);
  });

  it('a revoked refresh token turns the POP3 account auth_failed / oauth_revoked within one lifetime, after at most 3 refresh attempts', async () => {
    const user = 'tess@pushmail.test';
    const id = await createAccount(user);
    await waitFor(async () => (await view(id)).state === 'connected', 30_000, 'tess to poll', 200);
    const refusedBefore = (await oauth.stats()).refused.unknown ?? 0;
    await oauth.revoke(user);
    const revokedAt = Date.now();
    await waitFor(
      async () => {
        const v = await view(id);
        return v.state === 'auth_failed' && v.error === 'oauth_revoked';
      },
      TTL_S * 1000 + 5000,
      'auth_failed / oauth_revoked',
      250,
    );
    console.log(`pop3 oauth revocation noticed after ${((Date.now() - revokedAt) / 1000).toFixed(1)} s`);
    await sleep(5000);
    expect(((await oauth.stats()).refused.unknown ?? 0) - refusedBefore).toBeLessThanOrEqual(3);
    expect(await view(id)).toMatchObject({ state: 'auth_failed', error: 'oauth_revoked' });
  });

  it('external POP3 accounts log in with pushed tokens and go to auth_failed / oauth_token_expired when one lapses', async () => {
    const user = 'ugo@pushmail.test';
    const id = await createAccount(user, true);
    const put = async (body: unknown) => (await fetch(`${gateway.url}/api/accounts/${id}/access-token`, { method: 'PUT', headers: admin, body: JSON.stringify(body) })).status;
    const showsExpired = async () => {
      const v = await view(id);
      return v.state === 'auth_failed' && v.error === 'oauth_token_expired';
    };
    await waitFor(showsExpired, 30_000, 'auth_failed before any token was pushed', 250);
    // The pushed token brings the account back at once (it was in auth_failed).
    expect(await put(await oauth.accessToken(user, 8))).toBe(204);
    await waitFor(async () => (await view(id)).state === 'connected', 30_000, 'ugo to poll with the pushed token', 200);
    await waitFor(showsExpired, 30_000, 'auth_failed once the pushed token lapsed', 250);
    expect(await put(await oauth.accessToken(user, 60))).toBe(204);
    await waitFor(async () => (await view(id)).state === 'connected', 30_000, 'ugo to poll with a new token', 200);
  });
});
