import { AccountProtocol, OAuth2Credential } from '@pushmail/contracts';

/** The operator's registered apps (OAUTH_* settings); a provider without a client id is not offered. */
export interface OAuthProviderEnv {
  OAUTH_GOOGLE_CLIENT_ID?: string;
  OAUTH_GOOGLE_CLIENT_SECRET?: string;
  OAUTH_MICROSOFT_CLIENT_ID?: string;
  OAUTH_MICROSOFT_CLIENT_SECRET?: string;
  OAUTH_MICROSOFT_TENANT?: string;
}

export type PresetProvider = 'google' | 'microsoft';

/** What pushmail needs to know about a provider whose app the operator registered. */
export interface ProviderPreset {
  provider: PresetProvider;
  authorizeUrl: string;
  tokenUrl: string;
  /** Mail scopes (space-separated), plus what the sign-in flow needs to learn the address. */
  scope: string;
  clientId: string;
  clientSecret?: string;
  imap: { host: string; port: number; secure: boolean };
  smtp: { host: string; port: number; secure: boolean };
}

/** Google: one scope covers IMAP and SMTP; `access_type=offline` + `prompt=consent` yield a refresh token. */
export const GOOGLE_MAIL_SCOPE = 'https://mail.google.com/';
/** Microsoft 365 / Outlook.com: IMAP and SMTP AUTH scopes; `offline_access` yields a refresh token. */
export const MICROSOFT_MAIL_SCOPE = 'offline_access https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send';
/**
 * A POP3 account's: Microsoft puts in an access token only the scopes its refresh names, and its
 * POP3 server refuses a token without POP.AccessAsUser.All.
 */
export const MICROSOFT_POP3_SCOPE = 'offline_access https://outlook.office.com/POP.AccessAsUser.All https://outlook.office.com/SMTP.Send';

/** The preset of a provider, or undefined when the operator did not configure it. */
export function providerPreset(provider: PresetProvider, env: OAuthProviderEnv): ProviderPreset | undefined {
  if (provider === 'google') {
    if (!env.OAUTH_GOOGLE_CLIENT_ID) return undefined;
    return {
      provider,
      authorizeUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
      tokenUrl: 'https://oauth2.googleapis.com/token',
      scope: `openid email ${GOOGLE_MAIL_SCOPE}`,
      clientId: env.OAUTH_GOOGLE_CLIENT_ID,
      ...(env.OAUTH_GOOGLE_CLIENT_SECRET ? { clientSecret: env.OAUTH_GOOGLE_CLIENT_SECRET } : {}),
      imap: { host: 'imap.gmail.com', port: 993, secure: true },
      smtp: { host: 'smtp.gmail.com', port: 465, secure: true },
    };
  }
  if (!env.OAUTH_MICROSOFT_CLIENT_ID) return undefined;
  // The tenant is a path segment: only what Entra uses (common, organizations, consumers, a GUID or a domain).
  const tenant = encodeURIComponent(env.OAUTH_MICROSOFT_TENANT || 'common');
  return {
    provider,
    authorizeUrl: `https://login.microsoftonline.com/${tenant}/oauth2/v2.0/authorize`,
    tokenUrl: `https://login.microsoftonline.com/${tenant}/oauth2/v2.0/token`,
    scope: `openid email ${MICROSOFT_MAIL_SCOPE}`,
    clientId: env.OAUTH_MICROSOFT_CLIENT_ID,
    ...(env.OAUTH_MICROSOFT_CLIENT_SECRET ? { clientSecret: env.OAUTH_MICROSOFT_CLIENT_SECRET } : {}),
    imap: { host: 'outlook.office365.com', port: 993, secure: true },
    smtp: { host: 'smtp.office365.com', port: 587, secure: false },
  };
}

/** Where and as whom a refresh token is redeemed. */
export interface TokenEndpoint {
  tokenUrl: string;
  clientId: string;
  clientSecret?: string;
  scope?: string;
  /** A host a user named (custom): checked against the operator's network policy before each call. */
  userNamed: boolean;
}

/**
 * The token endpoint of a refreshable credential; undefined for `external` or an unconfigured
 * provider. `protocol` is the account's incoming protocol: every login of the account (its IMAP or
 * POP3 and its SMTP) asks for the same scopes, so they share one cached token.
 */
export function tokenEndpoint(oauth2: OAuth2Credential, env: OAuthProviderEnv, protocol: AccountProtocol): TokenEndpoint | undefined {
  if (oauth2.provider === 'external') return undefined;
  if (oauth2.provider === 'custom') {
    return { tokenUrl: oauth2.tokenUrl, clientId: oauth2.clientId, clientSecret: oauth2.clientSecret, scope: oauth2.scope, userNamed: true };
  }
  const preset = providerPreset(oauth2.provider, env);
  if (!preset) return undefined;
  // Microsoft needs the scopes on a refresh too (v2.0 endpoint); Google ignores them (its one scope covers POP3).
  const scope = oauth2.provider === 'microsoft' ? (protocol === 'pop3' ? MICROSOFT_POP3_SCOPE : MICROSOFT_MAIL_SCOPE) : undefined;
  return { tokenUrl: preset.tokenUrl, clientId: preset.clientId, clientSecret: preset.clientSecret, scope, userNamed: false };
}

/** The host of a token URL as the network policy takes it (IPv6 literals without brackets). */
export function tokenHost(tokenUrl: string): string {
  return new URL(tokenUrl).hostname.replace(/^\[|\]$/g, '');
}
