import { Injectable, Logger } from '@nestjs/common';
import { AccountProtocol, OAuth2Credential, ServerSettings, redisKeys } from '@pushmail/contracts';
import { CredentialCipher } from '@pushmail/crypto';
import { MailHostRefusedError, MailNetworkSettings } from '@pushmail/net-policy';
import { MetricsService } from '@pushmail/observability';
import { RedisService } from '@pushmail/redis';
import { createHash, randomBytes } from 'node:crypto';
import { OAuthProviderEnv, TokenEndpoint, tokenEndpoint, tokenHost } from './oauth-providers';
import { postTokenForm } from './token-request';

/** What a mail login presents: a password (PLAIN/LOGIN) or an access token (XOAUTH2/OAUTHBEARER). */
export type MailLogin = { user: string; pass: string } | { user: string; accessToken: string };

export type OAuthFailureCode = 'oauth_revoked' | 'oauth_token_expired' | 'oauth_unavailable';

/**
 * A login that cannot be attempted. `oauth_revoked` / `oauth_token_expired` are refusals
 * (`authenticationFailed`: the account goes to `auth_failed` and is not retried in a loop);
 * `oauth_unavailable` (token endpoint down, lock held too long) is transient.
 */
export class OAuthLoginError extends Error {
  readonly authenticationFailed: boolean;
  constructor(
    readonly oauthFailure: OAuthFailureCode,
    message: string,
  ) {
    super(message);
    this.name = 'OAuthLoginError';
    this.authenticationFailed = oauthFailure !== 'oauth_unavailable';
  }
}

/**
 * Where a mail login gets its credential (the DI token; {@link MailCredentialProvider} in the apps).
 * `protocol` is the account's incoming protocol (`imap` or `pop3`), for its SMTP logins too: an
 * OAuth grant asks for that protocol's scopes (see tokenEndpoint).
 */
export abstract class MailCredentials {
  abstract login(accountId: string, settings: Pick<ServerSettings, 'user' | 'pass' | 'oauth2'>, protocol: AccountProtocol): Promise<MailLogin>;
  /** A server refused `accessToken`: forget it so the next login gets a new one. */
  abstract refused(accountId: string, oauth2: OAuth2Credential, accessToken: string, protocol: AccountProtocol): Promise<void>;
}

/** Passwords only, no Redis: for tools and tests that never meet an OAuth account. */
export class PasswordCredentials extends MailCredentials {
  async login(_accountId: string, settings: Pick<ServerSettings, 'user' | 'pass' | 'oauth2'>, _protocol: AccountProtocol): Promise<MailLogin> {
    if (settings.oauth2) throw new OAuthLoginError('oauth_token_expired', 'OAuth logins are not available here');
    return { user: settings.user, pass: settings.pass ?? '' };
  }

  async refused(): Promise<void> {}
}

/** Refresh ahead of expiry, at this share of the token's lifetime. */
const REFRESH_AT = 0.8;
/** A token this close to its expiry is not handed out: the login would race it. */
const EXPIRY_MARGIN_MS = 3_000;
/** The refresh lock outlives the token call's timeout, so the holder's write is never fenced out by a slow call alone. */
const TOKEN_CALL_TIMEOUT_MS = 10_000;
const LOCK_MS = 30_000;
/** How long a login waits for another process's refresh when no usable token is cached. */
const WAIT_FOR_REFRESH_MS = 15_000;
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 5 * 60_000;

/** Writes the refreshed token only while the lock is still ours (fencing); releases the lock. */
const STORE_IF_LOCKED = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HDEL', KEYS[1], 'failures', 'retryAt')
redis.call('PEXPIRE', KEYS[1], 2592000000)
redis.call('DEL', KEYS[2])
return 1
`;
/**
 * Records a failed refresh (backoff) only while the lock is still ours, and releases it. Fenced
 * like a token write: an account deleted while its refresh was in flight took the lock with its
 * keys, and an unfenced write would leave an entry behind for it with no expiry.
 */
const FAILED_IF_LOCKED = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'failures', ARGV[2], 'retryAt', ARGV[3])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], 2592000000) end
redis.call('DEL', KEYS[2])
return 1
`;
const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

interface CachedToken {
  accessToken?: string;
  issuedAt: number;
  expiresAt: number;
  /** The latest refresh token when the provider rotated it (Microsoft does), encrypted. */
  refreshToken?: string;
  revoked: boolean;
  failures: number;
  retryAt: number;
}

interface TokenResponse {
  access_token?: unknown;
  expires_in?: unknown;
  refresh_token?: unknown;
  error?: unknown;
}

/**
 * The one place every mail login (watcher IDLE sessions, the fetcher's pool, the gateway's IMAP
 * and SMTP) gets its credential from.
 *
 * OAuth access tokens are cached in Redis, encrypted and bound to the account (AAD), with their
 * expiry, shared by every process. One process at a time refreshes (SET NX PX lock; its write is
 * fenced on still holding the lock), at 80 % of the lifetime, so two processes never redeem the
 * same rotating refresh token, and the others keep using the still-valid token meanwhile. The
 * cache key includes a digest of the stored grant, so changing the account's credentials starts
 * afresh.
 *
 * `invalid_grant` marks the grant revoked in Redis: every process then fails its logins with
 * `oauth_revoked` without calling the provider again. Other failures back off (exponential, full
 * jitter) in Redis too, so a fleet does not hammer a provider that is down.
 */
@Injectable()
export class MailCredentialProvider extends MailCredentials {
  private readonly logger = new Logger(MailCredentialProvider.name);
  private readonly refreshes;
  private readonly failures;
  private readonly tokenAge;

  constructor(
    private readonly redis: RedisService,
    private readonly cipher: CredentialCipher,
    private readonly network: MailNetworkSettings,
    private readonly env: OAuthProviderEnv,
    metrics: MetricsService,
  ) {
    super();
    this.refreshes = metrics.counter('pushmail_oauth_refreshes_total', 'OAuth access tokens obtained with a refresh token', ['provider']);
    this.failures = metrics.counter('pushmail_oauth_refresh_failures_total', 'OAuth token refreshes that failed, by reason', ['reason']);
    this.tokenAge = metrics.histogram('pushmail_oauth_token_age_at_login_seconds', 'Age of the OAuth access token a mail login presents', [], [1, 5, 15, 60, 300, 900, 1800, 3600]);
  }

  /** The credential for one login of `accountId` with these settings. Rejects with {@link OAuthLoginError}. */
  async login(accountId: string, settings: Pick<ServerSettings, 'user' | 'pass' | 'oauth2'>, protocol: AccountProtocol): Promise<MailLogin> {
    if (!settings.oauth2) return { user: settings.user, pass: settings.pass ?? '' };
    const token = await this.accessToken(accountId, settings.oauth2, protocol);
    return { user: settings.user, accessToken: token };
  }

  /**
   * A login with `accessToken` was refused (the server found it expired or revoked before we
   * did): forget it if it is still the cached one, so the next login refreshes.
   */
  async refused(accountId: string, oauth2: OAuth2Credential, accessToken: string, protocol: AccountProtocol): Promise<void> {
    if (oauth2.provider === 'external') return;
    const key = this.key(accountId, oauth2, protocol);
    const cached = await this.read(accountId, key);
    if (cached.accessToken === accessToken) await this.redis.client.hset(key, 'expiresAt', 0);
  }

  /** `PUT /api/accounts/:id/access-token`: the integrator's new token for an `external` account. */
  async pushAccessToken(accountId: string, accessToken: string, expiresAt: Date): Promise<void> {
    const key = this.externalKey(accountId);
    await this.redis.client
      .multi()
      .hset(key, { token: this.cipher.encrypt(accessToken, { accountId, field: 'oauth-access-token' }), issuedAt: Date.now(), expiresAt: expiresAt.getTime() })
      .pexpireat(key, expiresAt.getTime() + 24 * 3600_000)
      .exec();
  }

  /** Removes every cached token of the account (it was deleted). */
  async forget(accountId: string): Promise<void> {
    await this.redis.unlinkMatching(`${redisKeys.oauthToken(accountId, '*')}`);
  }

  private async accessToken(accountId: string, oauth2: OAuth2Credential, protocol: AccountProtocol): Promise<string> {
    const key = this.key(accountId, oauth2, protocol);
    let cached = await this.read(accountId, key);
    const now = Date.now();
    if (oauth2.provider === 'external') {
      if (cached.accessToken && cached.expiresAt - EXPIRY_MARGIN_MS > now) return this.hand(cached, now);
      throw new OAuthLoginError('oauth_token_expired', 'no unexpired access token was pushed for this account');
    }
    const endpoint = tokenEndpoint(oauth2, this.env, protocol);
    if (!endpoint) throw new OAuthLoginError('oauth_revoked', `OAuth provider ${oauth2.provider} is not configured on this server`);
    const deadline = Date.now() + WAIT_FOR_REFRESH_MS;
    for (;;) {
      if (cached.revoked) throw new OAuthLoginError('oauth_revoked', 'the OAuth provider refused the refresh token (invalid_grant)');
      const now = Date.now();
      const usable = !!cached.accessToken && cached.expiresAt - EXPIRY_MARGIN_MS > now;
      const due = !usable || now >= cached.issuedAt + REFRESH_AT * (cached.expiresAt - cached.issuedAt);
      if (!due) return this.hand(cached, now);
      if (now < cached.retryAt) {
        // Backing off after a failed refresh: use what is still valid, or fail this login (retried later).
        if (usable) return this.hand(cached, now);
        throw new OAuthLoginError('oauth_unavailable', 'token refresh is backing off after a failure');
      }
      const lock = randomBytes(12).toString('base64url');
      if ((await this.redis.client.set(this.lockKey(key), lock, 'PX', LOCK_MS, 'NX')) === 'OK') {
        // Another process may have refreshed between our read and the lock.
        cached = await this.read(accountId, key);
        if (!cached.revoked && cached.accessToken && Date.now() < cached.issuedAt + REFRESH_AT * (cached.expiresAt - cached.issuedAt)) {
          await this.redis.client.eval(RELEASE_LOCK, 1, this.lockKey(key), lock);
          return this.hand(cached, Date.now());
        }
        return this.refresh(accountId, key, lock, oauth2, endpoint, cached);
      }
      // Someone else refreshes: keep using the current token if it is still good, else wait for theirs.
      if (usable) return this.hand(cached, now);
      if (Date.now() > deadline) throw new OAuthLoginError('oauth_unavailable', 'timed out waiting for another process to refresh the token');
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 150));
      cached = await this.read(accountId, key);
    }
  }

  private async refresh(accountId: string, key: string, lock: string, oauth2: Exclude<OAuth2Credential, { provider: 'external' }>, endpoint: TokenEndpoint, cached: CachedToken): Promise<string> {
    const refreshToken = cached.refreshToken ? this.cipher.decrypt(cached.refreshToken, { accountId, field: 'oauth-refresh-token' }) : oauth2.refreshToken;
    let response: TokenResponse;
    let status: number;
    try {
      // A user-named endpoint is checked again before every refresh, and the request goes to the
      // address checked (pinned), not to what a second lookup returns (DNS rebinding).
      const pinned = endpoint.userNamed ? await this.network.policy.dialTarget(tokenHost(endpoint.tokenUrl)) : undefined;
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: endpoint.clientId });
      if (endpoint.clientSecret) form.set('client_secret', endpoint.clientSecret);
      if (endpoint.scope) form.set('scope', endpoint.scope);
      const res = await postTokenForm(endpoint.tokenUrl, form, { pinned, timeoutMs: TOKEN_CALL_TIMEOUT_MS });
      status = res.status;
      response = res.body as TokenResponse;
    } catch (err) {
      return this.refreshFailed(accountId, key, lock, cached, err instanceof MailHostRefusedError ? 'host_not_allowed' : 'network', err);
    }
    if (response.error === 'invalid_grant') {
      this.failures.inc({ reason: 'invalid_grant' });
      // Fenced like a token write: only the lock holder marks the grant revoked.
      await this.redis.client.eval(STORE_IF_LOCKED, 2, key, this.lockKey(key), lock, 'revoked', '1');
      this.logger.warn({ msg: 'oauth refresh token refused (invalid_grant); the account must sign in again', accountId, provider: oauth2.provider });
      throw new OAuthLoginError('oauth_revoked', 'the OAuth provider refused the refresh token (invalid_grant)');
    }
    const expiresIn = Number(response.expires_in);
    if (status >= 300 || typeof response.access_token !== 'string' || !response.access_token || !(expiresIn > 0)) {
      return this.refreshFailed(accountId, key, lock, cached, status >= 500 || status === 429 ? `http_${status}` : 'bad_response', new Error(`token endpoint answered ${status}`));
    }
    const issuedAt = Date.now();
    const fields = [
      'token',
      this.cipher.encrypt(response.access_token, { accountId, field: 'oauth-access-token' }),
      'issuedAt',
      String(issuedAt),
      'expiresAt',
      String(issuedAt + expiresIn * 1000),
    ];
    if (typeof response.refresh_token === 'string' && response.refresh_token) {
      fields.push('refresh', this.cipher.encrypt(response.refresh_token, { accountId, field: 'oauth-refresh-token' }));
    }
    const stored = await this.redis.client.eval(STORE_IF_LOCKED, 2, key, this.lockKey(key), lock, ...fields);
    this.refreshes.inc({ provider: oauth2.provider });
    if (!stored) this.logger.warn({ msg: 'oauth refresh finished after its lock expired; the token is used once but not cached', accountId });
    return response.access_token;
  }

  private async refreshFailed(accountId: string, key: string, lock: string, cached: CachedToken, reason: string, err: unknown): Promise<string> {
    this.failures.inc({ reason });
    const failures = cached.failures + 1;
    const delay = Math.round(Math.random() * Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** failures));
    await this.redis.client.eval(FAILED_IF_LOCKED, 2, key, this.lockKey(key), lock, String(failures), String(Date.now() + delay));
    this.logger.warn({ msg: 'oauth token refresh failed; backing off', accountId, reason, retryInMs: delay, err: err instanceof Error ? err.message : String(err) });
    if (cached.accessToken && cached.expiresAt - EXPIRY_MARGIN_MS > Date.now()) return this.hand(cached, Date.now());
    throw new OAuthLoginError('oauth_unavailable', `token refresh failed (${reason})`);
  }

  private hand(cached: CachedToken, now: number): string {
    this.tokenAge.observe((now - cached.issuedAt) / 1000);
    return cached.accessToken!;
  }

  private async read(accountId: string, key: string): Promise<CachedToken> {
    const h = await this.redis.client.hgetall(key);
    return {
      accessToken: h.token ? this.cipher.decrypt(h.token, { accountId, field: 'oauth-access-token' }) : undefined,
      issuedAt: Number(h.issuedAt ?? 0),
      expiresAt: Number(h.expiresAt ?? 0),
      refreshToken: h.refresh || undefined,
      revoked: h.revoked === '1',
      failures: Number(h.failures ?? 0),
      retryAt: Number(h.retryAt ?? 0),
    };
  }

  /**
   * Per account and grant: new credentials (a new refresh token, another client) get a fresh entry.
   * A Microsoft grant of a POP3 account asks for other scopes (tokenEndpoint), so its tokens are
   * kept apart; the other grants' keys are those of releases before that distinction.
   */
  private key(accountId: string, oauth2: OAuth2Credential, protocol: AccountProtocol): string {
    if (oauth2.provider === 'external') return this.externalKey(accountId);
    const scoped = oauth2.provider === 'microsoft' && protocol === 'pop3' ? ['pop3'] : [];
    const grant = JSON.stringify([oauth2.provider, oauth2.refreshToken, oauth2.provider === 'custom' ? [oauth2.tokenUrl, oauth2.clientId] : [], ...scoped]);
    return redisKeys.oauthToken(accountId, createHash('sha256').update(grant).digest('base64url').slice(0, 22));
  }

  /** The integrator pushes one token per account, whatever the protocol. */
  private externalKey(accountId: string): string {
    return redisKeys.oauthToken(accountId, 'external');
  }

  private lockKey(key: string): string {
    return `${key}:lock`;
  }
}
