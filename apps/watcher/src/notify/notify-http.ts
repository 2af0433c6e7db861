import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { MailNotificationBodySchema } from '@pushmail/contracts';
import type { ZodIssue } from 'zod';
import { Server, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { NotifySourceMatcher } from './notify-sources';
import { NotifyMetrics } from './notify.metrics';
import { NotifyService } from './notify.service';

export const NOTIFY_PATH = '/api/notify/dovecot';
/** body-parser's default, which the route had when Express served it: a Dovecot transaction's batch fits many times over. */
export const MAX_NOTIFY_BODY_BYTES = 100 * 1024;

const JSON_HEADERS = 'application/json; charset=utf-8';

/**
 * `POST /api/notify/dovecot`: a mail server's push notifications (deploy/dovecot/pushmail-notify.lua).
 * Answers 202 once the fetch jobs are in Redis; the sender does not retry (IDLE is the safety net).
 *
 * Served straight from node:http, not through a Nest controller: profiled at one notification per
 * request, Express's and Nest's per-request machinery (router, body-parser, pipes, interceptors
 * chain, response helpers) was ~40 % of the watcher's CPU for this route, which is the one route a
 * mail fleet calls thousands of times a second. The contract is the controller's: 401 (secret
 * compared in constant time), 400 naming the field, 413 over the body limit, 202 with
 * {@link MailNotificationResult} after the enqueue, 500 if Redis fails.
 */
export class NotifyRequestHandler {
  private readonly logger = new Logger('NotifyIngress');

  constructor(
    private readonly matcher: NotifySourceMatcher,
    private readonly notify: Pick<NotifyService, 'ingest'>,
    private readonly metrics: NotifyMetrics,
  ) {}

  /** POST to the ingress path, with or without a trailing slash or query, any case (what Express's router matched). */
  static handles(req: IncomingMessage): boolean {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const bare = path.length === NOTIFY_PATH.length + 1 && path.endsWith('/') ? path.slice(0, -1) : path;
    return bare === NOTIFY_PATH || (bare.length === NOTIFY_PATH.length && bare.toLowerCase() === NOTIFY_PATH);
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const declared = Number(req.headers['content-length']);
    if (declared > MAX_NOTIFY_BODY_BYTES) return void this.tooLarge(res);
    readBody(req, MAX_NOTIFY_BODY_BYTES, (body) => {
      if (body === 'too_large') return this.tooLarge(res);
      this.respond(req, body).then(
        ([status, payload]) => send(res, status, payload),
        (err: unknown) => {
          // What Nest's exception handler did for an unexpected error (Redis down): logged, 500.
          this.logger.error({ msg: 'notification ingest failed', err });
          send(res, 500, '{"statusCode":500,"message":"Internal server error"}');
        },
      );
    });
  }

  /** The status and JSON body of one request; rejects only on an unexpected failure (Redis). */
  private async respond(req: IncomingMessage, body: Buffer): Promise<[number, string]> {
    const source = this.matcher.match(req.headers.authorization);
    if (!source) {
      this.metrics.rejected.inc({ reason: 'unauthorized' });
      return [401, '{"message":"Unauthorized","statusCode":401}'];
    }
    const type = req.headers['content-type'];
    if (!type || !/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(type)) return this.badRequest('content-type: must be application/json');
    let parsedJson: unknown;
    try {
      parsedJson = JSON.parse(body.toString('utf8'));
    } catch {
      return this.badRequest('body: not valid JSON');
    }
    const parsed = MailNotificationBodySchema.safeParse(parsedJson);
    if (!parsed.success) return this.badRequest(describe(parsed.error.issues, parsedJson));
    const result = await this.notify.ingest(source, Array.isArray(parsed.data) ? parsed.data : [parsed.data]);
    return [202, JSON.stringify(result)];
  }

  private badRequest(message: string): [number, string] {
    this.metrics.rejected.inc({ reason: 'bad_request' });
    return [400, JSON.stringify({ error: 'bad_request', message })];
  }

  private tooLarge(res: ServerResponse): void {
    this.metrics.rejected.inc({ reason: 'bad_request' });
    // The rest of the body is not read: close the connection rather than drain up to any size.
    res.shouldKeepAlive = false;
    send(res, 413, JSON.stringify({ error: 'payload_too_large', message: `body: at most ${MAX_NOTIFY_BODY_BYTES} bytes` }));
  }
}

/**
 * Puts {@link NotifyRequestHandler} in front of Express on the watcher's own HTTP server (same port,
 * same keep-alive connections; every other request goes on to Express unchanged), rather than on a
 * port of its own, so neither deployments nor the Lua script's URL change.
 */
@Injectable()
export class NotifyHttpIngress implements OnApplicationBootstrap {
  private readonly handler: NotifyRequestHandler;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    matcher: NotifySourceMatcher,
    notify: NotifyService,
    metrics: NotifyMetrics,
  ) {
    this.handler = new NotifyRequestHandler(matcher, notify, metrics);
  }

  onApplicationBootstrap(): void {
    // Absent in an application context without HTTP (some tests): nothing to serve then.
    const server: unknown = this.adapterHost.httpAdapter?.getHttpServer();
    if (server instanceof Server) interceptRequests(server, (req, res) => (NotifyRequestHandler.handles(req) ? (this.handler.handle(req, res), true) : false));
  }
}

/**
 * Replaces the server's request listeners (Express, attached when Nest created the server) with
 * one that offers each request to `take` first and passes what it declines on to them.
 */
export function interceptRequests(server: Server, take: (req: IncomingMessage, res: ServerResponse) => boolean): void {
  const others = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (take(req, res)) return;
    for (const listener of others) listener.call(server, req, res);
  });
}

/** The body, or 'too_large' as soon as it passes `limit`; nothing if the client goes away first. */
function readBody(req: IncomingMessage, limit: number, done: (body: Buffer | 'too_large') => void): void {
  let chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size <= limit) return void chunks.push(chunk);
    settled = true;
    chunks = [];
    req.off('data', onData);
    done('too_large');
  };
  req.on('data', onData);
  req.on('end', () => {
    if (settled) return;
    settled = true;
    // One chunk is the usual case (a small body): no copy.
    done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
  });
  // An aborted request has nobody to answer; its socket is gone.
  req.on('error', () => undefined);
}

function send(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': JSON_HEADERS, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Names the first offending field (`[3].uid: …`); a union error is reported against the branch the body took. */
export function describe(issues: ZodIssue[], body: unknown): string {
  let issue = issues[0];
  if (issue?.code === 'invalid_union') {
    const branch = issue.unionErrors[Array.isArray(body) ? 1 : 0];
    issue = branch?.issues[0] ?? issue;
  }
  if (!issue) return 'invalid body';
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '');
  return `${path || 'body'}: ${issue.message}`;
}
