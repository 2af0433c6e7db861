import { INestApplication } from '@nestjs/common';
import { TestRedis } from '@pushmail/testing';
import { ADMIN_TOKEN, startGateway, tokenFor } from './helpers';

/**
 * Issue 14: users must not make the servers dial into their own network, hold unlimited accounts,
 * or churn them. The allowance that the rest of the tests need (loopback test servers) is off here.
 */
jest.setTimeout(30_000);

const PUBLIC_IP = '8.8.8.8';
const server = (host: string) => ({ host, port: 993, secure: true, user: 'alice', pass: 'imap-pass-admission' });
const account = (imapHost = PUBLIC_IP, smtpHost = PUBLIC_IP) => ({ email: 'alice@example.test', imap: server(imapHost), smtp: server(smtpHost) });

describe('account admission (private hosts refused, account limit, change rate)', () => {
  let redis: TestRedis;
  let app: INestApplication;
  let url: string;
  const asUser = async (userId: string, method: string, path: string, body?: unknown) =>
    fetch(url + path, { method, headers: { authorization: `Bearer ${await tokenFor(userId)}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const asAdmin = (method: string, path: string, body?: unknown) =>
    fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

  beforeAll(async () => {
    redis = await TestRedis.start();
    ({ app, url } = await startGateway(redis.url, { ALLOW_PRIVATE_MAIL_HOSTS: 'false', ALLOW_INSECURE_MAIL: 'false', MAIL_HOST_ALLOWLIST: 'mail.allowed.test,10.20.0.0/16' }));
  });
  afterAll(async () => {
    await app?.close();
    await redis?.dispose();
  });

  it.each([
    ['127.0.0.1', 'imap'],
    ['localhost', 'imap'],
    ['[::1]', 'imap'],
    ['10.0.0.1', 'imap'],
    ['169.254.169.254', 'imap'],
    ['100.100.100.200', 'smtp'],
    ['::ffff:127.0.0.1', 'smtp'],
    ['0.0.0.0', 'smtp'],
    ['no-such-host.invalid', 'smtp'],
  ])('refuses %s as %s.host with 400 naming the field (user API and admin API)', async (host, field) => {
    const body = field === 'imap' ? account(host) : account(PUBLIC_IP, host);
    for (const res of [await asUser('u-private', 'POST', '/api/me/accounts', body), await asAdmin('POST', '/api/accounts', { userId: 'u-private-admin', ...body })]) {
      expect(res.status).toBe(400);
      const json = (await res.json()) as { field: string; message: string; statusCode: number };
      expect(json).toMatchObject({ statusCode: 400, field: `${field}.host` });
      expect(json.message).toContain(`${field}.host`);
      // The same answer for a private address and a name that does not resolve: no DNS oracle.
      expect(json.message).not.toMatch(/loopback|private|resolve to a (?!public)|ENOTFOUND/);
    }
  });

  it('accepts public hosts and the allow-list, and checks PATCH too', async () => {
    const created = await asAdmin('POST', '/api/accounts', { userId: 'u-patch', ...account(PUBLIC_IP, '10.20.1.2') });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const patched = await asAdmin('PATCH', `/api/accounts/${id}`, { imap: server('192.168.1.1') });
    expect(patched.status).toBe(400);
    expect(((await patched.json()) as { field: string }).field).toBe('imap.host');
    expect((await asAdmin('PATCH', `/api/accounts/${id}`, { imap: server('1.1.1.1') })).status).toBe(200);
  });

  it('refuses a custom OAuth token endpoint on a private host, naming imap.oauth2.tokenUrl (issue 19)', async () => {
    const oauth2 = (tokenUrl: string) => ({ provider: 'custom', tokenUrl, clientId: 'c', refreshToken: 'r' });
    const body = (tokenUrl: string) => ({ ...account(), imap: { host: PUBLIC_IP, port: 993, secure: true, user: 'alice', oauth2: oauth2(tokenUrl) } });
    const refused = await asUser('u-oauth-host', 'POST', '/api/me/accounts', body('https://10.0.0.5/token'));
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { field: string }).field).toBe('imap.oauth2.tokenUrl');
    expect((await asAdmin('POST', '/api/accounts', { userId: 'u-oauth-host', ...body('https://8.8.8.8/token') })).status).toBe(201);
  });

  it('answers 409 for the 21st account of a user', async () => {
    for (let i = 0; i < 20; i++) expect((await asUser('u-limit', 'POST', '/api/me/accounts', account())).status).toBe(201);
    const over = await asUser('u-limit', 'POST', '/api/me/accounts', account());
    expect(over.status).toBe(409);
    expect((await asAdmin('POST', '/api/accounts', { userId: 'u-limit', ...account() })).status).toBe(409);
    const list = (await (await asUser('u-limit', 'GET', '/api/me/accounts')).json()) as unknown[];
    expect(list).toHaveLength(20);
  });

  it('keeps to the limit when creations race', async () => {
    const results = await Promise.all(Array.from({ length: 25 }, () => asAdmin('POST', '/api/accounts', { userId: 'u-race', ...account() })));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201).length).toBeLessThanOrEqual(20);
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    const list = (await (await asAdmin('GET', '/api/accounts?userId=u-race')).json()) as unknown[];
    expect(list.length).toBe(statuses.filter((s) => s === 201).length);
    expect(list.length).toBeLessThanOrEqual(20);
  });

  it('answers 429 once a user created and deleted ACCOUNT_CHANGES_PER_HOUR (30) accounts this hour', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 16; i++) {
      const res = await asUser('u-churn', 'POST', '/api/me/accounts', account());
      statuses.push(res.status);
      if (res.status !== 201) break;
      const { id } = (await res.json()) as { id: string };
      statuses.push((await asUser('u-churn', 'DELETE', `/api/me/accounts/${id}`)).status);
    }
    expect(statuses.slice(0, 30).every((s) => s === 201 || s === 204)).toBe(true);
    expect(statuses[30]).toBe(429);
    // Other users are not affected.
    expect((await asUser('u-other', 'POST', '/api/me/accounts', account())).status).toBe(201);
  });
});
