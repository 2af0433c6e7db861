import type { MailNotification, MailNotificationResult } from '@pushmail/contracts';
import { MetricsService } from '@pushmail/observability';
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_NOTIFY_BODY_BYTES, NOTIFY_PATH, NotifyRequestHandler, interceptRequests } from './notify-http';
import { NotifySource, NotifySourceMatcher } from './notify-sources';
import { NotifyMetrics } from './notify.metrics';

const SECRET = 'unit-notify-secret-0123456789ab';
const n = (uid: number) => ({ event: 'MessageNew', user: 'u@example.test', mailbox: 'INBOX', uidValidity: 7, uid });

/** The lean ingress route on a real node:http server, in front of a stand-in for Express. */
describe('NotifyRequestHandler', () => {
  let server: Server;
  let port: number;
  let ingested: Array<{ source: string; notifications: readonly MailNotification[] }>;
  let fail: Error | null;
  let metrics: NotifyMetrics;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });

  beforeAll(async () => {
    metrics = new NotifyMetrics(new MetricsService());
    const ingest = async (source: NotifySource, notifications: readonly MailNotification[]): Promise<MailNotificationResult> => {
      if (fail) throw fail;
      ingested.push({ source: source.name, notifications });
      return { mapped: notifications.length, unmapped: 0 };
    };
    const handler = new NotifyRequestHandler(new NotifySourceMatcher([{ name: 'dc1', secret: SECRET, imapHosts: ['imap.example.test'] }]), { ingest }, metrics);
    server = createServer((_req, res) => res.writeHead(404).end('express'));
    interceptRequests(server, (req, res) => (NotifyRequestHandler.handles(req) ? (handler.handle(req, res), true) : false));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  beforeEach(() => {
    ingested = [];
    fail = null;
  });
  afterAll(async () => {
    agent.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const post = (body: string, headers: Record<string, string> = {}, path = NOTIFY_PATH, method = 'POST') =>
    new Promise<{ status: number; body: string; socket: unknown }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method, agent, headers: { authorization: `Bearer ${SECRET}`, 'content-type': 'application/json', ...headers } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, socket: req.socket }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const rejected = async (reason: string) => (await metrics.rejected.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;

  it('answers 202 with the result once ingested, one notification or an array, on one keep-alive connection', async () => {
    const one = await post(JSON.stringify(n(1)));
    expect(one).toMatchObject({ status: 202, body: '{"mapped":1,"unmapped":0}' });
    const many = await post(JSON.stringify([n(2), n(3)]), {}, `${NOTIFY_PATH}/?x=1`);
    expect(many).toMatchObject({ status: 202, body: '{"mapped":2,"unmapped":0}' });
    expect(many.socket).toBe(one.socket);
    expect(ingested).toEqual([{ source: 'dc1', notifications: [n(1)] }, { source: 'dc1', notifications: [n(2), n(3)] }]);
  });

  it('a wrong or missing secret is 401 and ingests nothing', async () => {
    const before = await rejected('unauthorized');
    expect((await post(JSON.stringify(n(1)), { authorization: 'Bearer wrong-secret-0123456789abcdef' })).status).toBe(401);
    expect((await post(JSON.stringify(n(1)), { authorization: '' })).status).toBe(401);
    expect(ingested).toEqual([]);
    expect(await rejected('unauthorized')).toBe(before + 2);
  });

  it('a malformed body is 400 naming the field; over the limit is 413', async () => {
    const message = async (body: string, headers: Record<string, string> = {}) => {
      const res = await post(body, headers);
      expect(res.status).toBe(400);
      return (JSON.parse(res.body) as { error: string; message: string }).message;
    };
    expect(await message(JSON.stringify({ ...n(1), uid: 0 }))).toMatch(/^uid:/);
    expect(await message(JSON.stringify([n(1), { ...n(2), uidValidity: undefined }]))).toMatch(/^\[1\]\.uidValidity:/);
    expect(await message(JSON.stringify({ ...n(1), event: 'FlagsSet' }))).toMatch(/^event:/);
    expect(await message('[]')).toBeTruthy();
    expect(await message('{"event":')).toBe('body: not valid JSON');
    expect(await message(JSON.stringify(n(1)), { 'content-type': 'text/plain' })).toMatch(/^content-type:/);
    expect((await post(JSON.stringify([n(1)]), { 'content-type': 'application/json; charset=utf-8' })).status).toBe(202);
    expect((await post(`[${Array.from({ length: MAX_NOTIFY_BODY_BYTES / 50 }, (_, i) => JSON.stringify(n(i + 1))).join(',')}]`)).status).toBe(413);
    expect(ingested).toHaveLength(1);
  });

  it('a failed ingest (Redis down) is 500', async () => {
    fail = new Error('redis down');
    expect(await post(JSON.stringify(n(1)))).toMatchObject({ status: 500, body: '{"statusCode":500,"message":"Internal server error"}' });
  });

  it('passes every other request on to Express', async () => {
    expect((await post('{}', {}, '/api/notify/other')).body).toBe('express');
    expect((await post('', {}, NOTIFY_PATH, 'GET')).body).toBe('express');
    expect((await post('{}', {}, '/metrics')).body).toBe('express');
    expect((await post(JSON.stringify(n(9)), {}, NOTIFY_PATH.toUpperCase())).status).toBe(202);
  });
});
