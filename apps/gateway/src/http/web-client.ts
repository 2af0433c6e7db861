import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Paths the web client's SPA fallback must never answer. */
const RESERVED = /^\/(api|socket\.io|health|metrics)(\/|$)/;

const PLACEHOLDER = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>pushmail</title></head>
<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem">
<h1>pushmail gateway</h1>
<p>The web client has not been built yet (<code>npm run build</code> writes it to <code>dist/web</code>).</p>
<p>The gateway is running: Socket.IO at <code>/socket.io</code>, the admin API at <a href="/api/docs">/api/docs</a>.</p>
</body></html>`;

/**
 * The web client's policy, sent as a header because `frame-ancestors` (no other site may frame the
 * client and trick a click out of a signed-in user) is ignored in a `<meta>` tag. The rest matches
 * the `<meta>` policy of apps/web/index.html; message frames (srcdoc) inherit it and add their own.
 */
export const WEB_CLIENT_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src * data: blob:; connect-src 'self' ws: wss:; font-src 'self' data:; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function securityHeaders(res: Response): void {
  res.setHeader('Content-Security-Policy', WEB_CLIENT_CSP);
  // For browsers that predate CSP's frame-ancestors.
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
}

/**
 * Serves the built web client at `/`, with an SPA fallback to index.html for client-side routes,
 * or a placeholder page while it has not been built.
 */
export function serveWebClient(app: NestExpressApplication, webDir: string): void {
  const dir = resolve(webDir);
  const index = join(dir, 'index.html');
  const built = existsSync(index);
  // index.html is also reachable by its own name through the static files: it gets the same headers.
  if (built) app.useStaticAssets(dir, { index: false, maxAge: '1h', fallthrough: true, setHeaders: (res, path) => path.endsWith('.html') && securityHeaders(res as Response) });
  app.use((req: Request, res: Response, next: NextFunction) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || RESERVED.test(req.path) || !req.accepts('html')) return next();
    res.setHeader('Cache-Control', 'no-cache');
    securityHeaders(res);
    if (built) res.sendFile(index);
    else res.type('html').send(PLACEHOLDER);
  });
}
