import { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { captureOutput, spawnTracked, stopProcess, waitFor } from './processes';

export interface OAuthServerStats {
  /** Refresh-token grants answered with a token, per user. */
  refreshes: Record<string, number>;
  /** When each of those refreshes was answered (ms since the epoch), in order, per user. */
  refreshTimes: Record<string, number[]>;
  /** Refresh-token grants refused (`invalid_grant`: unknown, already used or revoked). */
  refused: Record<string, number>;
  codeExchanges: number;
}

/**
 * A real OAuth 2 authorization server on loopback (oauth2-mock-server in its own process, see
 * oauth-server.mjs): RS256 JWT access tokens of `ttlSeconds`, rotating refresh tokens, and a
 * strict RFC 7662 introspection endpoint for Dovecot and the SMTP sink.
 */
export class TestOAuthServer {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly ttlSeconds: number,
  ) {}

  static async start(options: { ttlSeconds?: number } = {}): Promise<TestOAuthServer> {
    const ttlSeconds = options.ttlSeconds ?? 20;
    const child = spawnTracked(process.execPath, [join(__dirname, 'oauth-server.mjs')], {
      env: { ...process.env, OAUTH_TOKEN_TTL_S: String(ttlSeconds) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = captureOutput(child);
    const port = await waitFor(() => Number(/ready (\d+)/.exec(output.text())?.[1] ?? 0) || undefined, 15_000, 'the OAuth server to listen');
    return new TestOAuthServer(child, port, ttlSeconds);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get tokenUrl(): string {
    return `${this.url}/token`;
  }
  get introspectionUrl(): string {
    return `${this.url}/_test/introspect`;
  }

  /** A refresh token for `username` (each one works once: the server rotates them). */
  async grant(username: string): Promise<string> {
    return ((await this.post('/_test/grant', { username })) as { refreshToken: string }).refreshToken;
  }

  /** Revokes every refresh token of `username`: the next refresh is `invalid_grant`. */
  async revoke(username: string): Promise<void> {
    await this.post('/_test/revoke', { username });
  }

  /** An access token minted directly (what an `external` integrator would push). */
  async accessToken(username: string, expiresInSeconds = this.ttlSeconds): Promise<{ accessToken: string; expiresAt: string }> {
    return (await this.post('/_test/access-token', { username, expiresIn: expiresInSeconds })) as { accessToken: string; expiresAt: string };
  }

  /** RFC 7662: `{ active, username }`, after checking signature, issuer and expiry. */
  async introspect(token: string): Promise<{ active: boolean; username?: string }> {
    return (await this.post('/_test/introspect', { token })) as { active: boolean; username?: string };
  }

  /** Who the authorization-code flow signs in as. */
  async setLoginUser(username: string): Promise<void> {
    await this.post('/_test/login-user', { username });
  }

  async stats(): Promise<OAuthServerStats> {
    return (await (await fetch(`${this.url}/_test/stats`)).json()) as OAuthServerStats;
  }

  async stop(): Promise<void> {
    await stopProcess(this.child, 'SIGTERM', 5000);
  }

  private async post(path: string, body: Record<string, unknown>): Promise<unknown> {
    const res = await fetch(`${this.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`OAuth test server ${path}: ${res.status}`);
    return res.json();
  }
}
