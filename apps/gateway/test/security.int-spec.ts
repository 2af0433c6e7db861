import { INestApplication } from '@nestjs/common';
import { PartLinkSigner } from '@pushmail/auth';
import { ServerEvent, partPath } from '@pushmail/contracts';
import { TestDovecot, TestRedis, builtAppPath, testStores, waitFor } from '@pushmail/testing';
import { spawnSync } from 'node:child_process';
import { SignJWT } from 'jose';
import { io } from 'socket.io-client';
import { SocketEmitter } from '../src/socket/socket-emitter';
import { bufferedBytes } from '../src/socket/socket-io.adapter';
import { ADMIN_TOKEN, ClientSocket, JWT_SECRET, call, connect, gatewayEnv, newMessage, okAck, startGateway, tokenFor } from './helpers';
import { RawWebSocket } from './raw-websocket';

/** Issue 14, "Tokens and the browser": signed part links, token checks, admin throttling, socket limits, CSP. */
jest.setTimeout(60_000);

describe('gateway security: tokens and the browser', () => {
  let redis: TestRedis;
  let dovecot: TestDovecot;
  let stores: ReturnType<typeof testStores>;
  let app: INestApplication;
  let url: string;
  let accountId: string;
  let uid: number;
  const sockets: ClientSocket[] = [];
  const raws: RawWebSocket[] = [];
  const bearer = async (user = 'u1') => ({ authorization: `Bearer ${await tokenFor(user)}` });

  beforeAll(async () => {
    redis = await TestRedis.start();
    dovecot = await TestDovecot.start({ users: { 'alice@example.test': 'imap-pass-alice' } });
    stores = testStores(redis.url);
    ({ app, url } = await startGateway(redis.url, { WEB_DIR: '/nonexistent-web-dir', SOCKET_MAX_BUFFERED_BYTES: String(1024 * 1024), ADMIN_AUTH_FAILURES_PER_MINUTE: '5' }));
    const imap = dovecot.imapSettings('alice@example.test');
    accountId = (await stores.accounts.create({ userId: 'u1', email: 'alice@example.test', imap, smtp: imap, mailboxes: ['INBOX'] })).id;
    const raw = [
      'From: s@example.test',
      'To: alice@example.test',
      'Subject: parts',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b"',
      '',
      '--b',
      'Content-Type: text/plain',
      '',
      'body',
      '--b',
      'Content-Type: application/octet-stream; name="a.bin"',
      'Content-Disposition: attachment; filename="a.bin"',
      '',
      'attachment-bytes',
      '--b--',
      '',
    ].join('\r\n');
    uid = (await dovecot.append('alice@example.test', 'INBOX', raw)).uid!;
  });
  afterEach(() => {
    sockets.splice(0).forEach((s) => s.close());
    raws.splice(0).forEach((r) => r.destroy());
  });
  afterAll(async () => {
    await app?.close();
    await stores?.close();
    await dovecot?.dispose();
    await redis?.dispose();
  });

  describe('signed part links', () => {
    it('message.partLink gives a link that needs no token and answers Cache-Control: private, no-store', async () => {
      const socket = await connect(url, await tokenFor('u1'));
      sockets.push(socket);
      const link = okAck(await call(socket, 'message.partLink', { accountId, mailbox: 'INBOX', uid, partId: '2' }));
      expect(link.url.startsWith(`${partPath(accountId, 'INBOX', uid, '2')}?`)).toBe(true);
      const ttl = Date.parse(link.expiresAt) - Date.now();
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(300_000);
      const res = await fetch(url + link.url);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('private, no-store');
      expect(await res.text()).toBe('attachment-bytes');
    });

    it('GET …/link gives the same with the token as a header; another user gets 404 there and forbidden on the socket', async () => {
      const res = await fetch(`${url}${partPath(accountId, 'INBOX', uid, '2')}/link`, { headers: await bearer() });
      expect(res.status).toBe(200);
      const link = (await res.json()) as { ok: boolean; url: string; expiresAt: string };
      expect(link.ok).toBe(true);
      expect((await fetch(url + link.url)).status).toBe(200);

      expect((await fetch(`${url}${partPath(accountId, 'INBOX', uid, '2')}/link`, { headers: await bearer('u2') })).status).toBe(404);
      expect((await fetch(`${url}${partPath(accountId, 'INBOX', uid, '2')}/link`)).status).toBe(401);
      const other = await connect(url, await tokenFor('u2'));
      sockets.push(other);
      expect(await call(other, 'message.partLink', { accountId, mailbox: 'INBOX', uid, partId: '2' })).toMatchObject({ ok: false, error: { code: 'forbidden' } });
      expect(await call(other, 'message.partLink', { accountId, mailbox: 'INBOX', uid, partId: '../x' })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    });

    it('refuses an expired link (403), a link for another part (403) and a moved expiry (403)', async () => {
      const signer = new PartLinkSigner(JWT_SECRET);
      const scope = { accountId, mailbox: 'INBOX', uid, partId: '2' };
      const past = Math.floor(Date.now() / 1000) - 1;
      const expired = await fetch(`${url}${partPath(accountId, 'INBOX', uid, '2')}?exp=${past}&sig=${signer.sign(scope, past)}`);
      expect(expired.status).toBe(403);

      const res = await fetch(`${url}${partPath(accountId, 'INBOX', uid, '2')}/link`, { headers: await bearer() });
      const link = new URL(((await res.json()) as { url: string }).url, url);
      const otherPart = `${url}${partPath(accountId, 'INBOX', uid, '1')}${link.search}`;
      expect((await fetch(otherPart)).status).toBe(403);
      const otherUid = `${url}${partPath(accountId, 'INBOX', uid + 1, '2')}${link.search}`;
      expect((await fetch(otherUid)).status).toBe(403);
      const moved = new URL(link);
      moved.searchParams.set('exp', String(Number(moved.searchParams.get('exp')) + 60));
      expect((await fetch(moved)).status).toBe(403);
    });

    it('refuses a client JWT in ?access_token= with 401; the Bearer header keeps working', async () => {
      const path = partPath(accountId, 'INBOX', uid, '2');
      expect((await fetch(`${url}${path}?access_token=${await tokenFor('u1')}`)).status).toBe(401);
      expect((await fetch(`${url}${path}?access_token=${await tokenFor('u1')}`, { headers: await bearer() })).status).toBe(401);
      const res = await fetch(url + path, { headers: await bearer() });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('private, no-store');
    });

    it('answers every IMAP failure alike (502, same body) and never logs in for an auth_failed account', async () => {
      const wrong = { ...dovecot.imapSettings('alice@example.test'), pass: 'not-the-password' };
      const badPass = (await stores.accounts.create({ userId: 'u1', email: 'b@example.test', imap: wrong, smtp: wrong, mailboxes: ['INBOX'] })).id;
      const closed = { host: '127.0.0.1', port: 1, secure: false, user: 'x', pass: 'y' };
      const noServer = (await stores.accounts.create({ userId: 'u1', email: 'c@example.test', imap: closed, smtp: closed, mailboxes: ['INBOX'] })).id;
      const answers = [];
      for (const id of [badPass, noServer]) {
        const res = await fetch(url + partPath(id, 'INBOX', uid, '2'), { headers: await bearer() });
        answers.push({ status: res.status, body: await res.text() });
      }
      expect(answers[0].status).toBe(502);
      expect(answers[1]).toEqual(answers[0]);
      // An account the watcher found auth_failed is not tried at all: even with the right password
      // (changed since), the gateway does not log in, so downloads add no password attempts.
      const right = dovecot.imapSettings('alice@example.test');
      const marked = (await stores.accounts.create({ userId: 'u1', email: 'd@example.test', imap: right, smtp: right, mailboxes: ['INBOX'] })).id;
      expect((await fetch(url + partPath(marked, 'INBOX', uid, '2'), { headers: await bearer() })).status).toBe(200);
      await stores.accounts.setState(marked, 'auth_failed', 'auth_failed');
      const gated = await fetch(url + partPath(marked, 'INBOX', uid, '2'), { headers: await bearer() });
      expect({ status: gated.status, body: await gated.text() }).toEqual(answers[0]);
      // On a working connection, a missing message is still 404.
      expect((await fetch(url + partPath(accountId, 'INBOX', uid + 100, '2'), { headers: await bearer() })).status).toBe(404);
    });
  });

  it('limits part downloads (each an IMAP login) per user: 429 past PART_DOWNLOADS_PER_MINUTE', async () => {
    const other = await startGateway(redis.url, { PART_DOWNLOADS_PER_MINUTE: '2' });
    try {
      const imap = { host: '127.0.0.1', port: 1, secure: false, user: 'x', pass: 'y' };
      const id = (await stores.accounts.create({ userId: 'u3', email: 'e@example.test', imap, smtp: imap, mailboxes: ['INBOX'] })).id;
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await fetch(other.url + partPath(id, 'INBOX', 1, '2'), { headers: await bearer('u3') })).status);
      expect(statuses).toEqual([502, 502, 429]);
    } finally {
      await other.app.close();
    }
  });

  describe('client tokens', () => {
    const rawToken = (claims: { exp?: number; aud?: string; iss?: string }) => {
      const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u1');
      if (claims.exp) jwt.setExpirationTime(claims.exp);
      if (claims.aud) jwt.setAudience(claims.aud);
      if (claims.iss) jwt.setIssuer(claims.iss);
      return jwt.sign(new TextEncoder().encode(JWT_SECRET));
    };

    it('refuses a token without exp, on the socket and over HTTP', async () => {
      const forever = await rawToken({});
      await expect(connect(url, forever)).rejects.toThrow('unauthorized');
      expect((await fetch(`${url}/api/me/accounts`, { headers: { authorization: `Bearer ${forever}` } })).status).toBe(401);
    });

    it.each([
      ['AUTH_JWT_SECRET', 'x'.repeat(31)],
      ['ADMIN_TOKEN', 'y'.repeat(23)],
    ])('the built gateway exits non-zero at boot naming %s when it is too short', (name, value) => {
      const env = { PATH: process.env.PATH, ...gatewayEnv(redis.url, { [name]: value }) } as NodeJS.ProcessEnv;
      const result = spawnSync(process.execPath, [builtAppPath('gateway')], { env, encoding: 'utf8', timeout: 20_000 });
      expect(result.status).not.toBe(0);
      expect(result.status).not.toBeNull();
      expect(result.stderr).toContain(name);
    });

    it('checks AUTH_JWT_AUDIENCE and AUTH_JWT_ISSUER when set', async () => {
      const other = await startGateway(redis.url, { AUTH_JWT_AUDIENCE: 'pushmail', AUTH_JWT_ISSUER: 'https://idp.example' });
      try {
        const exp = Math.floor(Date.now() / 1000) + 600;
        const status = async (claims: { aud?: string; iss?: string }) =>
          (await fetch(`${other.url}/api/me/accounts`, { headers: { authorization: `Bearer ${await rawToken({ exp, ...claims })}` } })).status;
        expect(await status({ aud: 'pushmail', iss: 'https://idp.example' })).toBe(200);
        expect(await status({ aud: 'other', iss: 'https://idp.example' })).toBe(401);
        expect(await status({ aud: 'pushmail', iss: 'https://evil.example' })).toBe(401);
        expect(await status({})).toBe(401);
        await expect(connect(other.url, await rawToken({ exp, aud: 'other', iss: 'https://idp.example' }))).rejects.toThrow('unauthorized');
        const ok = await connect(other.url, await rawToken({ exp, aud: 'pushmail', iss: 'https://idp.example' }));
        ok.close();
      } finally {
        await other.app.close();
      }
    });
  });

  describe('Socket.IO before and after authentication', () => {
    it('disconnects an unauthenticated peer that sends a 1 MB frame', async () => {
      const ws = await RawWebSocket.open(url);
      raws.push(ws);
      await ws.next((m) => m.startsWith('0{'));
      // A well-formed CONNECT whose auth payload is 1 MB: it would parse (and be verified) if read.
      ws.send(`40${JSON.stringify({ token: 'x'.repeat(1024 * 1024) })}`);
      expect(await ws.closedWithin(3000)).toBe(true);
    });

    it('disconnects a peer that sends nothing for 5 s, and one whose token was refused', async () => {
      const silent = await RawWebSocket.open(url);
      const refused = await RawWebSocket.open(url);
      raws.push(silent, refused);
      const started = Date.now();
      refused.send('40{"token":"garbage"}');
      await refused.next((m) => m.startsWith('44'));
      expect(await silent.closedWithin(8000)).toBe(true);
      expect(await refused.closedWithin(2000)).toBe(true);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThan(4000);
      expect(elapsed).toBeLessThan(7500);
    });

    it.each([['websocket'], ['polling'], ['polling,websocket']])('lets an authenticated client send more than 64 KB and stay connected (%s)', async (transports) => {
      const socket: ClientSocket = io(url, { path: '/socket.io', transports: transports.split(','), auth: { token: await tokenFor('u1') }, reconnection: false, forceNew: true });
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      // The raised limit must follow the connection onto the transport it upgrades to.
      const last = transports.split(',').at(-1);
      await waitFor(() => socket.io.engine.transport.name === last, 5000, `the ${last} transport`);
      // A 200 KB command: refused by its schema, but only after the gateway read it whole.
      const ack = await call(socket, 'message.partLink', { accountId, mailbox: 'INBOX', uid, partId: '2', junk: 'x'.repeat(200 * 1024) });
      expect(ack).toMatchObject({ ok: false, error: { code: 'bad_request' } });
      expect(socket.connected).toBe(true);
    });

    it('disconnects a client that stops reading, and keeps what it buffers for it bounded', async () => {
      const limit = 1024 * 1024;
      const ws = await RawWebSocket.open(url);
      raws.push(ws);
      await ws.next((m) => m.startsWith('0{'));
      ws.send(`40${JSON.stringify({ token: await tokenFor('u1') })}`);
      await ws.next((m) => m.startsWith('40{'));
      ws.send(`421${JSON.stringify(['subscribe', { accountId }])}`);
      await ws.next((m) => m.startsWith('431'));
      const emitter = app.get(SocketEmitter);
      const [serverSocket] = emitter.localSockets().filter((s) => s.conn.transport.name === 'websocket' && s.data.userId === 'u1');
      expect(serverSocket).toBeDefined();
      ws.pauseReading();

      // 60 KB events until the gateway gives up on the client (TCP buffers take the first few MB).
      const big = 'y'.repeat(60 * 1024);
      let maxQueued = 0;
      let pushed = 0;
      for (let i = 0; i < 2000 && serverSocket.connected; i++) {
        await stores.eventLog.append(accountId, ServerEvent.MessageNew, newMessage(accountId, 10_000 + i, { text: big }), { ttlSeconds: 600, maxLen: 100, dedupeKey: `big-${i}` });
        pushed += big.length;
        await new Promise((r) => setImmediate(r));
        maxQueued = Math.max(maxQueued, bufferedBytes(serverSocket.conn));
      }
      await waitFor(() => !serverSocket.connected, 5000, 'the non-reading socket cut');
      // It was cut long before everything pushed could pile up, with at most one event over the limit queued.
      expect(pushed).toBeGreaterThan(4 * limit);
      expect(pushed).toBeLessThan(2000 * big.length);
      expect(maxQueued).toBeLessThanOrEqual(limit + 2 * big.length);
    });
  });

  describe('web client and admin API', () => {
    it("sends Content-Security-Policy with frame-ancestors 'none' and X-Frame-Options: DENY on GET /", async () => {
      const res = await fetch(`${url}/`, { headers: { accept: 'text/html' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options')).toBe('DENY');
    });

    it('throttles failed admin authentications per source IP (429, even for the right token, until the minute is over)', async () => {
      const list = (token: string) => fetch(`${url}/api/accounts?userId=u1`, { headers: { authorization: `Bearer ${token}` } });
      expect((await list(ADMIN_TOKEN)).status).toBe(200);
      const statuses = [];
      for (let i = 0; i < 7; i++) statuses.push((await list(`wrong-token-${i}`)).status);
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
      expect((await list(ADMIN_TOKEN)).status).toBe(429);
    });
  });
});
