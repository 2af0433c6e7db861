import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import { partPath } from '@pushmail/contracts';
import { TestDovecot, TestRedis, testStores } from '@pushmail/testing';
import { ADMIN_TOKEN, startGateway, tokenFor } from './helpers';

/** The HTTP side: admin API, user API, part downloads, docs, web client, health and metrics. */
jest.setTimeout(30_000);

describe('gateway HTTP', () => {
  let redis: TestRedis;
  let dovecot: TestDovecot;
  let stores: ReturnType<typeof testStores>;
  let app: INestApplication;
  let url: string;
  const admin = (path: string, init: RequestInit = {}) =>
    fetch(url + path, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });
  const body = (over: Record<string, unknown> = {}) => ({
    userId: 'u1',
    email: 'alice@example.test',
    imap: { ...dovecot.imapSettings('alice@example.test') },
    smtp: { host: '127.0.0.1', port: 2525, secure: false, user: 'alice', pass: 'smtp-pass-alice' },
    ...over,
  });

  beforeAll(async () => {
    redis = await TestRedis.start();
    dovecot = await TestDovecot.start({ users: { 'alice@example.test': 'imap-pass-alice' } });
    stores = testStores(redis.url);
    ({ app, url } = await startGateway(redis.url, { WEB_DIR: '/nonexistent-web-dir' }));
  });
  afterAll(async () => {
    await app?.close();
    await stores?.close();
    await dovecot?.dispose();
    await redis?.dispose();
  });

  describe('admin API', () => {
    it('answers 401 without the admin token, with a wrong one, or with a client token', async () => {
      expect((await fetch(`${url}/api/accounts?userId=u1`)).status).toBe(401);
      expect((await fetch(`${url}/api/accounts?userId=u1`, { headers: { authorization: 'Bearer wrong-token' } })).status).toBe(401);
      expect((await fetch(`${url}/api/accounts?userId=u1`, { headers: { authorization: `Bearer ${await tokenFor('u1')}` } })).status).toBe(401);
      expect((await fetch(`${url}/api/accounts`, { method: 'POST', body: JSON.stringify(body()), headers: { 'content-type': 'application/json' } })).status).toBe(401);
    });

    it.each([
      ['a bad port', { imap: { host: 'h', port: 'x', secure: false, user: 'u', pass: 'p' } }, 'imap.port'],
      ['a missing smtp', { smtp: undefined }, 'smtp'],
      ['a bad email', { email: 'nope' }, 'email'],
      ['an empty mailbox list', { mailboxes: [] }, 'mailboxes'],
    ])('answers 400 naming the field for %s', async (_what, over, field) => {
      const res = await admin('/api/accounts', { method: 'POST', body: JSON.stringify(body(over)) });
      expect(res.status).toBe(400);
      const json = (await res.json()) as { message: string; field: string };
      expect(json.field).toBe(field);
      expect(json.message).toContain(field);
    });

    it('creates, reads, lists, patches and deletes an account, never returning a secret', async () => {
      const created = await admin('/api/accounts', { method: 'POST', body: JSON.stringify(body()) });
      expect(created.status).toBe(201);
      const view = (await created.json()) as { id: string };
      expect(view).toEqual({ id: expect.stringMatching(/^acc_/), userId: 'u1', email: 'alice@example.test', mailboxes: ['*'], state: 'connecting', stateVersion: 1, protocol: 'imap', delivery: 'push' });

      const got = await admin(`/api/accounts/${view.id}`);
      expect(got.status).toBe(200);
      expect(await got.json()).toEqual(view);
      const list = (await (await admin('/api/accounts?userId=u1')).json()) as Array<{ id: string }>;
      expect(list.map((a) => a.id)).toContain(view.id);
      expect(await (await admin('/api/accounts?userId=nobody')).json()).toEqual([]);
      expect((await admin('/api/accounts')).status).toBe(400);

      const patched = await admin(`/api/accounts/${view.id}`, { method: 'PATCH', body: JSON.stringify({ mailboxes: ['INBOX', 'Archive'] }) });
      expect(patched.status).toBe(200);
      expect(await patched.json()).toMatchObject({ id: view.id, mailboxes: ['INBOX', 'Archive'] });
      expect((await admin(`/api/accounts/${view.id}`, { method: 'PATCH', body: JSON.stringify({}) })).status).toBe(400);

      const everything = [created, got, patched].map((r) => r.headers.get('content-type')).join();
      expect(everything).toContain('application/json');
      expect(JSON.stringify(list)).not.toMatch(/imap-pass|smtp-pass|"pass"/);

      expect((await admin(`/api/accounts/${view.id}`, { method: 'DELETE' })).status).toBe(204);
      expect((await admin(`/api/accounts/${view.id}`)).status).toBe(404);
      expect((await admin(`/api/accounts/${view.id}`, { method: 'DELETE' })).status).toBe(404);
      expect((await admin('/api/accounts/acc_unknown', { method: 'PATCH', body: JSON.stringify({ mailboxes: ['INBOX'] }) })).status).toBe(404);
    });
  });

  describe('user API (extension)', () => {
    it("lets a user add, list and remove only their own accounts", async () => {
      const token = await tokenFor('u7');
      const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      expect((await fetch(`${url}/api/me/accounts`)).status).toBe(401);
      const { userId: _ignored, ...own } = body();
      const created = await fetch(`${url}/api/me/accounts`, { method: 'POST', headers: auth, body: JSON.stringify(own) });
      expect(created.status).toBe(201);
      const view = (await created.json()) as { id: string; userId: string };
      expect(view.userId).toBe('u7');
      expect((await fetch(`${url}/api/me/accounts`, { method: 'POST', headers: auth, body: JSON.stringify(body()) })).status).toBe(400); // userId is not the client's to choose
      expect(((await (await fetch(`${url}/api/me/accounts`, { headers: auth })).json()) as Array<{ id: string }>).map((a) => a.id)).toEqual([view.id]);

      const other = { authorization: `Bearer ${await tokenFor('u8')}` };
      expect(await (await fetch(`${url}/api/me/accounts`, { headers: other })).json()).toEqual([]);
      expect((await fetch(`${url}/api/me/accounts/${view.id}`, { method: 'DELETE', headers: other })).status).toBe(404);
      expect((await fetch(`${url}/api/me/accounts/${view.id}`, { method: 'DELETE', headers: auth })).status).toBe(204);
    });
  });

  describe('part downloads', () => {
    let accountId: string;
    let uid: number;
    const pdf = Buffer.concat([Buffer.from('%PDF-1.4 '), Buffer.alloc(300_000, 0x41)]);

    beforeAll(async () => {
      accountId = (await stores.accounts.create({ ...body(), mailboxes: ['INBOX'] } as never)).id;
      const boundary = 'b0undary';
      const raw = [
        'From: Sender <sender@example.test>',
        'To: alice@example.test',
        'Subject: with attachment',
        'Message-ID: <att@example.test>',
        'MIME-Version: 1.0',
        `Content-Type: multipart/mixed; boundary="${boundary}"`,
        '',
        `--${boundary}`,
        'Content-Type: text/plain; charset=utf-8',
        '',
        'see attached',
        `--${boundary}`,
        'Content-Type: application/pdf; name="Grüße report.pdf"',
        'Content-Disposition: attachment; filename*=UTF-8\'\'Gr%C3%BC%C3%9Fe%20report.pdf',
        'Content-Transfer-Encoding: base64',
        '',
        pdf.toString('base64').replace(/.{76}/g, '$&\r\n'),
        `--${boundary}--`,
        '',
      ].join('\r\n');
      uid = (await dovecot.append('alice@example.test', 'INBOX', raw)).uid!;
    });

    it('streams the part with its type and an attachment disposition, by header (a token in ?access_token= is refused)', async () => {
      const path = partPath(accountId, 'INBOX', uid, '2');
      const res = await fetch(url + path, { headers: { authorization: `Bearer ${await tokenFor('u1')}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/pdf');
      expect(res.headers.get('content-disposition')).toBe(`attachment; filename="Gr__e report.pdf"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20report.pdf`);
      expect(Buffer.from(await res.arrayBuffer()).equals(pdf)).toBe(true);

      const viaQuery = await fetch(`${url}${path}?access_token=${await tokenFor('u1')}`);
      expect(viaQuery.status).toBe(401);
    });

    it("answers 404 for another user's account, a missing part and a missing message; 401 without a token", async () => {
      const path = partPath(accountId, 'INBOX', uid, '2');
      expect((await fetch(url + path, { headers: { authorization: `Bearer ${await tokenFor('u2')}` } })).status).toBe(404);
      expect((await fetch(url + partPath('acc_unknown', 'INBOX', uid, '2'), { headers: { authorization: `Bearer ${await tokenFor('u2')}` } })).status).toBe(404);
      expect((await fetch(url + path)).status).toBe(401);
      const auth = { authorization: `Bearer ${await tokenFor('u1')}` };
      expect((await fetch(url + partPath(accountId, 'INBOX', uid + 100, '2'), { headers: auth })).status).toBe(404);
      expect((await fetch(url + partPath(accountId, 'NoSuchBox', uid, '2'), { headers: auth })).status).toBe(404);
      expect((await fetch(url + partPath(accountId, 'INBOX', uid, 'x;y'), { headers: auth })).status).toBe(404);
    });
  });

  describe('docs, web client, health, metrics', () => {
    it('serves OpenAPI docs at /api/docs', async () => {
      const res = await fetch(`${url}/api/docs`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('swagger');
      const spec = (await (await fetch(`${url}/api/docs-json`)).json()) as { paths: Record<string, unknown> };
      expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/api/accounts', '/api/accounts/{id}', '/api/accounts/{id}/messages/{mailbox}/{uid}/parts/{partId}']));
    });

    it('serves the web client (placeholder when not built) at / and client routes, without shadowing the API', async () => {
      for (const path of ['/', '/inbox/acc_1']) {
        const res = await fetch(url + path, { headers: { accept: 'text/html' } });
        expect(res.status).toBe(200);
        expect(await res.text()).toContain('pushmail');
      }
      expect((await fetch(`${url}/api/nothing-here`, { headers: { accept: 'text/html' } })).status).toBe(404);
      expect((await fetch(`${url}/health/live`, { headers: { accept: 'text/html' } })).status).toBe(200);
    });

    it('is ready with Redis and the adapter up, and exports the gateway metrics', async () => {
      const ready = await fetch(`${url}/health/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ ok: true, checks: { redis: { ok: true }, 'socket-adapter': { ok: true }, 'events-channel': { ok: true } } });
      const metrics = await (await fetch(`${url}/metrics`)).text();
      for (const name of ['pushmail_socket_clients', 'pushmail_event_to_socket_ms', 'pushmail_push_latency_ms', 'pushmail_sends_total']) expect(metrics).toContain(name);
    });
  });

  describe('built web client', () => {
    it('serves its files and falls back to index.html for client routes only', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pm-web-'));
      mkdirSync(join(dir, 'assets'));
      writeFileSync(join(dir, 'index.html'), '<!doctype html><title>pushmail web</title>');
      writeFileSync(join(dir, 'assets', 'app.js'), 'console.log(1)');
      const web = await startGateway(redis.url, { WEB_DIR: dir });
      try {
        const asset = await fetch(`${web.url}/assets/app.js`);
        expect(asset.status).toBe(200);
        expect(asset.headers.get('content-type')).toContain('javascript');
        for (const path of ['/', '/accounts/acc_1/INBOX']) expect(await (await fetch(web.url + path, { headers: { accept: 'text/html' } })).text()).toContain('pushmail web');
        expect((await fetch(`${web.url}/api/accounts`, { headers: { accept: 'text/html' } })).status).toBe(401);
        expect((await fetch(`${web.url}/metrics`, { headers: { accept: 'text/html' } })).headers.get('content-type')).toContain('text/plain');
        expect((await fetch(`${web.url}/socket.io/?EIO=4&transport=polling`)).status).toBe(200);
      } finally {
        await web.app.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('CORS', () => {
    it('allows only the configured origins (none by default)', async () => {
      const preflight = (base: string, origin: string) =>
        fetch(`${base}/api/me/accounts`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
      expect((await preflight(url, 'http://app.example.test')).headers.get('access-control-allow-origin')).toBeNull();
      const cors = await startGateway(redis.url, { CORS_ORIGINS: 'http://app.example.test' });
      try {
        expect((await preflight(cors.url, 'http://app.example.test')).headers.get('access-control-allow-origin')).toBe('http://app.example.test');
        expect((await preflight(cors.url, 'http://evil.example.test')).headers.get('access-control-allow-origin')).toBeNull();
        const polling = await fetch(`${cors.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: 'http://app.example.test' } });
        expect(polling.headers.get('access-control-allow-origin')).toBe('http://app.example.test');
      } finally {
        await cors.app.close();
      }
    });
  });
});
