import { z } from 'zod';

/** "Sign in with…" providers the operator configured: `GET /api/me/oauth/providers`. */
export const OAuthSignInProviderIdSchema = z.enum(['google', 'microsoft', 'custom']);
export type OAuthSignInProviderId = z.infer<typeof OAuthSignInProviderIdSchema>;

export interface OAuthSignInProvider {
  id: OAuthSignInProviderId;
  /** What the button says after "Sign in with". */
  label: string;
}

/** `GET /api/me/oauth/:provider/start`: where the browser goes to consent (valid 10 minutes). */
export interface OAuthStartResponse {
  url: string;
}

/**
 * The callback sends the browser back to the web client with one of these query parameters:
 * `oauth=connected` and `account=<id>`, or `oauth_error=<why>` (nothing was created).
 */
export const OAUTH_RESULT_PARAM = 'oauth';
export const OAUTH_ERROR_PARAM = 'oauth_error';
