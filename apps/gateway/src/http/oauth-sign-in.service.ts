import { BadRequestException, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { CreateAccountBodySchema, KEY_PREFIX, OAuth2Credential, OAuthSignInProvider, OAuthSignInProviderId, OAuthSignInProviderIdSchema } from '@pushmail/contracts';
import { postTokenForm, tokenHost } from '@pushmail/credentials';
import { DialTarget, MailNetworkSettings } from '@pushmail/net-policy';
import { RedisService } from '@pushmail/redis';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { SignInSettings } from '../settings';

/** The issue's "valid 10 minutes": long enough for a consent screen and a 2-step login. */
export const SIGN_IN_STATE_TTL_SECONDS = 600;
const TOKEN_CALL_TIMEOUT_MS = 10_000;
export const CALLBACK_PATH = '/api/oauth/callback';

type MailServer = { host: string; port: number; secure: boolean };

/** One configured "Sign in with…" provider: where to send the browser, where to redeem the code, what account to make. */
export interface SignInProvider {
  id: OAuthSignInProviderId;
  label: string;
  authorizeUrl: string;
  tokenUrl: string;
  clientId: string;
  clientSecret?: string;
  scope: string;
  /** Extra authorize parameters (Google returns a refresh token only with these). */
  authorizeParams: Record<string, string>;
  imap: MailServer;
  smtp: MailServer;
  /** The stored credential for a refresh token this provider issued. */
  credential(refreshToken: string): OAuth2Credential;
}

/** What Redis holds for a started sign-in, under a hash of its `state` (single use, 10 minutes). */
interface PendingSignIn {
  userId: string;
  provider: OAuthSignInProviderId;
  verifier: string;
  /** sha256 of the nonce in the starting browser's cookie: a link sent to someone else fails. */
  browser: string;
}

const TokenResponseSchema = z.object({ refresh_token: z.string().min(1).max(8192), id_token: z.string().min(1) }).passthrough();
const IdClaimsSchema = z.object({ email: z.string().email().max(320).optional(), preferred_username: z.string().optional() }).passthrough();

/** A failure after the state checked out: the browser goes back to the web client with it (nothing created). */
export class SignInFailed extends Error {
  constructor(readonly code: 'access_denied' | 'provider_error' | 'no_refresh_token' | 'no_email' | 'not_allowed') {
    super(code);
  }
}

const b64url = (bytes: Buffer) => bytes.toString('base64url');
const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url');

/**
 * "Sign in with Google / Microsoft" (and an operator's own OpenID provider): authorization code
 * flow with PKCE (S256). The `state` is random, stored hashed in Redis with the signed-in user and
 * the PKCE verifier, and taken with GETDEL, so it works once and only within 10 minutes; the
 * callback also needs the cookie set on the browser that started it, so a consent link passed to
 * someone else cannot attach their mailbox to the starter's pushmail user.
 */
@Injectable()
export class OAuthSignInService {
  private readonly logger = new Logger(OAuthSignInService.name);

  constructor(
    private readonly redis: RedisService,
    private readonly network: MailNetworkSettings,
    private readonly settings: SignInSettings,
  ) {}

  get publicUrl(): string | undefined {
    return this.settings.publicUrl;
  }

  /** Providers offered to users: configured ones, and none without PUBLIC_URL (no redirect URI). */
  providers(): SignInProvider[] {
    if (!this.publicUrl) return [];
    const found: SignInProvider[] = [];
    for (const preset of this.settings.presets) {
      const id = preset.provider;
      found.push({
        id,
        label: id === 'google' ? 'Google' : 'Microsoft',
        authorizeUrl: preset.authorizeUrl,
        tokenUrl: preset.tokenUrl,
        clientId: preset.clientId,
        clientSecret: preset.clientSecret,
        scope: preset.scope,
        // Google issues a refresh token only for offline access, and again only with prompt=consent.
        authorizeParams: id === 'google' ? { access_type: 'offline', prompt: 'consent' } : { prompt: 'select_account' },
        imap: preset.imap,
        smtp: preset.smtp,
        credential: (refreshToken) => ({ provider: id, refreshToken }),
      });
    }
    const custom = this.settings.custom;
    if (custom) {
      found.push({
        id: 'custom',
        label: custom.label,
        authorizeUrl: custom.authorizeUrl,
        tokenUrl: custom.tokenUrl,
        clientId: custom.clientId,
        clientSecret: custom.clientSecret,
        scope: custom.scope,
        authorizeParams: {},
        imap: custom.imap,
        smtp: custom.smtp,
        credential: (refreshToken) => ({
          provider: 'custom',
          tokenUrl: custom.tokenUrl,
          clientId: custom.clientId,
          ...(custom.clientSecret ? { clientSecret: custom.clientSecret } : {}),
          refreshToken,
          scope: custom.scope,
        }),
      });
    }
    return found;
  }

  list(): OAuthSignInProvider[] {
    return this.providers().map((p) => ({ id: p.id, label: p.label }));
  }

  /** 404 naming `provider` when it is unknown or not configured (or PUBLIC_URL is unset). */
  private provider(id: string): SignInProvider {
    const parsed = OAuthSignInProviderIdSchema.safeParse(id);
    const found = parsed.success ? this.providers().find((p) => p.id === parsed.data) : undefined;
    if (!found) {
      throw new NotFoundException({
        statusCode: 404,
        error: 'Not Found',
        message: `provider: "${id}" is not configured on this server (see GET /api/me/oauth/providers)`,
        field: 'provider',
      });
    }
    return found;
  }

  get redirectUri(): string {
    return `${this.publicUrl}${CALLBACK_PATH}`;
  }

  /** The consent URL for `userId`, and the nonce the starting browser must present at the callback. */
  async start(userId: string, providerId: string): Promise<{ url: string; browserNonce: string }> {
    const provider = this.provider(providerId);
    const state = b64url(randomBytes(32));
    const verifier = b64url(randomBytes(32));
    const browserNonce = b64url(randomBytes(24));
    const pending: PendingSignIn = { userId, provider: provider.id, verifier, browser: sha256(browserNonce) };
    await this.redis.client.set(this.stateKey(state), JSON.stringify(pending), 'EX', SIGN_IN_STATE_TTL_SECONDS);
    const url = new URL(provider.authorizeUrl);
    const params: Record<string, string> = {
      response_type: 'code',
      client_id: provider.clientId,
      redirect_uri: this.redirectUri,
      scope: provider.scope,
      state,
      code_challenge: b64url(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
      ...provider.authorizeParams,
    };
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return { url: url.toString(), browserNonce };
  }

  /**
   * Takes the state (once: GETDEL) and checks the browser's nonce. 400 naming `state` for a missing,
   * forged, expired, reused or foreign one: nothing is created.
   */
  async takeState(state: unknown, browserNonce: string | undefined): Promise<PendingSignIn & { provider: OAuthSignInProviderId }> {
    const bad = (why: string) => new BadRequestException({ statusCode: 400, error: 'Bad Request', message: `state: ${why}; start the sign-in again from the web client`, field: 'state' });
    if (typeof state !== 'string' || !state || state.length > 256) throw bad('is missing');
    const raw = await this.redis.client.getdel(this.stateKey(state));
    if (!raw) throw bad('is unknown, expired or already used');
    const pending = JSON.parse(raw) as PendingSignIn;
    const expected = Buffer.from(pending.browser);
    const got = Buffer.from(browserNonce ? sha256(browserNonce) : '');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw bad('was started in another browser');
    return pending;
  }

  /**
   * Redeems the code (with the PKCE verifier) at the provider's token URL and builds the account
   * body. The ID token comes straight from the token endpoint over TLS, so its claims are read
   * without checking its signature (OpenID Connect Core §3.1.3.7).
   */
  async exchange(pending: PendingSignIn, code: string): Promise<z.infer<typeof CreateAccountBodySchema>> {
    const provider = this.provider(pending.provider);
    // The operator named this host, but the account's refreshes check it as user-named (custom):
    // the same rule now, and the request goes to the address checked (no second lookup).
    let pinned: DialTarget | undefined;
    if (provider.id === 'custom') {
      const check = await this.network.policy.resolveAndCheck(tokenHost(provider.tokenUrl));
      if (!check.ok) throw new SignInFailed('not_allowed');
      pinned = check;
    }
    const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: this.redirectUri, client_id: provider.clientId, code_verifier: pending.verifier });
    if (provider.clientSecret) form.set('client_secret', provider.clientSecret);
    let body: Record<string, unknown>;
    try {
      const res = await postTokenForm(provider.tokenUrl, form, { pinned, timeoutMs: TOKEN_CALL_TIMEOUT_MS });
      body = res.body;
      if (res.status < 200 || res.status >= 300) {
        this.logger.warn({ msg: 'oauth code exchange refused', provider: provider.id, status: res.status, error: body.error });
        throw new SignInFailed('provider_error');
      }
    } catch (err) {
      if (err instanceof SignInFailed) throw err;
      this.logger.warn({ msg: 'oauth code exchange failed', provider: provider.id, err: err instanceof Error ? err.message : String(err) });
      throw new SignInFailed('provider_error');
    }
    const tokens = TokenResponseSchema.safeParse(body);
    if (!tokens.success) throw new SignInFailed(tokens.error.issues.some((i) => i.path[0] === 'refresh_token') ? 'no_refresh_token' : 'no_email');
    const email = this.emailOf(tokens.data.id_token);
    if (!email) throw new SignInFailed('no_email');
    const credential = provider.credential(tokens.data.refresh_token);
    return CreateAccountBodySchema.parse({
      userId: pending.userId,
      email,
      imap: { ...provider.imap, user: email, oauth2: credential },
      smtp: { ...provider.smtp, user: email, oauth2: credential },
    });
  }

  private emailOf(idToken: string): string | undefined {
    try {
      const claims = IdClaimsSchema.parse(JSON.parse(Buffer.from(idToken.split('.')[1] ?? '', 'base64url').toString('utf8')));
      // Microsoft work accounts may carry the address only as preferred_username.
      const candidate = claims.email ?? claims.preferred_username;
      return candidate && z.string().email().safeParse(candidate).success ? candidate.toLowerCase() : undefined;
    } catch {
      return undefined;
    }
  }

  /** Where the browser lands after the callback. */
  webClientUrl(params: Record<string, string>): string {
    return `${this.publicUrl ?? ''}/?${new URLSearchParams(params).toString()}`;
  }

  /** The state is a bearer secret until used: Redis holds only its hash. */
  private stateKey(state: string): string {
    return `${KEY_PREFIX}:oauth-signin:${sha256(state)}`;
  }
}
