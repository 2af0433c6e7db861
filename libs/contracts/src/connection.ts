import { z } from 'zod';

/**
 * What users see when pushmail cannot talk to their mail server: a category, never the errno or
 * the server's own text (those tell an open port from a closed one, and echo internal banners).
 * The details go to the logs of the app that made the connection.
 * `host_not_allowed`: the host resolves to an address the operator does not allow (private,
 * loopback, cloud metadata…), see ALLOW_PRIVATE_MAIL_HOSTS / MAIL_HOST_ALLOWLIST.
 * `oauth_revoked`: the OAuth provider refused the refresh token (`invalid_grant`), the user must sign in
 * again; `oauth_token_expired`: an `external` account's pushed access token lapsed without a new one.
 */
export const connectionFailureCodes = [
  'connection_failed',
  'tls_failed',
  'timeout',
  'auth_failed',
  'protocol_error',
  'host_not_allowed',
  'oauth_revoked',
  'oauth_token_expired',
] as const;
export const ConnectionFailureCodeSchema = z.enum(connectionFailureCodes);
export type ConnectionFailureCode = z.infer<typeof ConnectionFailureCodeSchema>;

/** The outcome of one attempt to reach a mail server, as it crosses process boundaries. */
export type ConnectionOutcome = { ok: true } | { ok: false; code: ConnectionFailureCode };

/** A short, fixed sentence per category, safe to show (it says nothing about the network). */
export const connectionFailureMessages: Record<ConnectionFailureCode, string> = {
  connection_failed: 'could not connect to the mail server',
  tls_failed: 'could not establish a secure (TLS) connection to the mail server',
  timeout: 'the mail server did not answer in time',
  auth_failed: 'the mail server refused the user name or password',
  protocol_error: 'the mail server answered in an unexpected way',
  host_not_allowed: 'this mail server address is not allowed',
  oauth_revoked: 'access to the mailbox was revoked; sign in again',
  oauth_token_expired: 'the access token expired and no new one was provided',
};
