// A real OAuth 2 authorization server for the integration tests, run as its own process (it is
// ESM-only, and a process of its own is what the apps meet in production anyway).
//
// oauth2-mock-server signs real RS256 JWTs and serves /token, /authorize, /jwks, /userinfo, but it
// accepts ANY refresh token and its /introspect answers `active: true` for anything. So this
// wrapper adds what the tests depend on:
// - refresh tokens are issued per test user (POST /_test/grant) and ROTATE: a refresh token works
//   once; reusing it (two processes racing) or a revoked one is answered `invalid_grant`;
// - access tokens carry `sub` = the mail user name and live OAUTH_TOKEN_TTL_S seconds;
// - POST /_test/introspect (RFC 7662, what Dovecot and the SMTP sink call) verifies the JWT's
//   signature against the issuer's JWKS, its issuer and its expiry, and answers `{ active, username }`;
// - GET /_test/stats counts refreshes (granted and refused) per user, so tests can count them at
//   the server (and when each refresh was answered, so tests can see one per token lifetime);
//   POST /_test/revoke revokes a user's refresh tokens.
// Prints `ready <port>` on stdout once it listens.
import { createServer } from 'node:http';
import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';
import { createLocalJWKSet, jwtVerify } from 'jose';

const ttl = Number(process.env.OAUTH_TOKEN_TTL_S ?? 20);
const issuer = new OAuth2Issuer();
await issuer.keys.generate('RS256');
const service = new OAuth2Service(issuer);

/** refresh token → user name, only while it may still be used. */
const refreshTokens = new Map();
/** authorization code → user name (the web flow signs in as `OAUTH_LOGIN_USER` unless told). */
const codes = new Map();
let loginUser = process.env.OAUTH_LOGIN_USER ?? 'oauth@pushmail.test';
const stats = { refreshes: {}, refreshTimes: {}, refused: {}, codeExchanges: 0 };
const bump = (table, user) => (table[user] = (table[user] ?? 0) + 1);

function userOf(req) {
  const body = req.body ?? {};
  if (body.grant_type === 'refresh_token') return refreshTokens.get(body.refresh_token);
  if (body.grant_type === 'authorization_code') return codes.get(body.code);
  return undefined;
}

service.on('beforeTokenSigning', (token, req) => {
  const user = userOf(req);
  token.payload.exp = token.payload.iat + ttl;
  if (user) {
    token.payload.sub = user;
    token.payload.email = user;
  }
});

service.on('beforeResponse', (response, req) => {
  const body = req.body ?? {};
  if (body.grant_type !== 'refresh_token' && body.grant_type !== 'authorization_code') return;
  const user = userOf(req);
  if (!user) {
    if (body.grant_type === 'refresh_token') bump(stats.refused, 'unknown');
    response.statusCode = 400;
    response.body = { error: 'invalid_grant', error_description: 'unknown, used or revoked grant' };
    return;
  }
  if (body.grant_type === 'refresh_token') {
    refreshTokens.delete(body.refresh_token);
    bump(stats.refreshes, user);
    (stats.refreshTimes[user] ??= []).push(Date.now());
  } else {
    codes.delete(body.code);
    stats.codeExchanges++;
  }
  response.body.expires_in = ttl;
  refreshTokens.set(response.body.refresh_token, user);
});

// The web flow's /authorize: remember which user the code belongs to.
service.on('beforeAuthorizeRedirect', (authorizeRedirectUri) => {
  const code = authorizeRedirectUri.url.searchParams.get('code');
  if (code) codes.set(code, loginUser);
});

const jwks = () => createLocalJWKSet({ keys: issuer.keys.toJSON() });

async function introspect(token) {
  try {
    const { payload } = await jwtVerify(token, jwks(), { issuer: issuer.url, algorithms: ['RS256'] });
    return { active: true, username: payload.sub, exp: payload.exp, scope: payload.scope };
  } catch {
    return { active: false };
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function control(req, res) {
  const url = new URL(req.url, 'http://x');
  const raw = req.method === 'POST' ? await readBody(req) : '';
  const form = (req.headers['content-type'] ?? '').includes('json') ? JSON.parse(raw || '{}') : Object.fromEntries(new URLSearchParams(raw));
  switch (url.pathname) {
    case '/_test/introspect': {
      const auth = req.headers.authorization ?? '';
      const token = form.token ?? (auth.startsWith('Bearer ') ? auth.slice(7) : '');
      return send(res, 200, await introspect(String(token)));
    }
    case '/_test/grant': {
      const refreshToken = crypto.randomUUID();
      refreshTokens.set(refreshToken, String(form.username));
      return send(res, 200, { refreshToken });
    }
    case '/_test/revoke':
      for (const [token, user] of refreshTokens) if (user === form.username) refreshTokens.delete(token);
      return send(res, 200, {});
    case '/_test/access-token': {
      // A token minted directly, for `external` accounts whose integrator pushes tokens.
      const seconds = Number(form.expiresIn ?? ttl);
      const accessToken = await issuer.buildToken({ expiresIn: seconds, scopesOrTransform: (_h, p) => Object.assign(p, { sub: String(form.username) }) });
      return send(res, 200, { accessToken, expiresAt: new Date(Date.now() + seconds * 1000).toISOString() });
    }
    case '/_test/login-user':
      loginUser = String(form.username);
      return send(res, 200, {});
    case '/_test/stats':
      return send(res, 200, stats);
    default:
      return send(res, 404, {});
  }
}

const server = createServer((req, res) => {
  if (req.url?.startsWith('/_test/')) {
    control(req, res).catch((err) => send(res, 500, { error: String(err) }));
    return;
  }
  service.requestHandler(req, res);
});
server.listen(Number(process.env.OAUTH_PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address();
  issuer.url = `http://127.0.0.1:${port}`;
  process.stdout.write(`ready ${port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
