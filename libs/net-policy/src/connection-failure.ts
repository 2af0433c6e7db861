import { ConnectionFailureCode } from '@pushmail/contracts';
import { MailHostRefusedError } from './mail-host-policy';

/** Marks an SMTP server that offered no AUTH: sending through it unauthenticated would make it a relay. */
export class SmtpAuthUnavailableError extends Error {
  readonly smtpAuthUnavailable = true;
  constructor() {
    super('the SMTP server offers no AUTH; refusing to send without authenticating');
    this.name = 'SmtpAuthUnavailableError';
  }
}

interface NetLikeError {
  code?: unknown;
  originalCode?: unknown;
  authenticationFailed?: boolean;
  tlsFailed?: boolean;
  smtpAuthUnavailable?: boolean;
  /** Set by @pushmail/credentials' OAuthLoginError. */
  oauthFailure?: unknown;
  responseCode?: unknown;
  library?: unknown;
  reason?: unknown;
}

const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ETIMEOUT', 'CONNECT_TIMEOUT', 'GREETING_TIMEOUT', 'UPGRADE_TIMEOUT', 'ESOCKETTIMEDOUT']);
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'EDNS',
  'NoConnection',
  'EConnectionClosed',
  'ClosedAfterConnectText',
  'ECONNECTION',
  'ESOCKET',
]);
const TLS_CODES = new Set([
  'ETLS',
  'EPROTO',
  'ClosedAfterConnectTLS',
  'STARTTLS_INJECTION',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_HANDSHAKE_TIMEOUT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
]);

function categoryOfCode(code: string): ConnectionFailureCode | undefined {
  if (code.startsWith('ERR_SSL_') || TLS_CODES.has(code)) return 'tls_failed';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  if (CONNECTION_CODES.has(code)) return 'connection_failed';
  return undefined;
}

/**
 * Turns whatever an IMAP (imapflow) or SMTP (nodemailer) connection attempt threw into the
 * category users may see. Typed fields decide, not message text: imapflow sets
 * `authenticationFailed` / `tlsFailed` and its own codes, nodemailer sets `code` (and keeps the
 * socket's code in `originalCode`), Node's TLS layer uses `ERR_SSL_*` and certificate codes.
 * Anything unrecognised is a `protocol_error`: the server answered, but not as expected.
 */
export function classifyConnectionError(err: unknown): ConnectionFailureCode {
  if (err instanceof MailHostRefusedError) return err.refusal.code === 'host_not_allowed' ? 'host_not_allowed' : 'connection_failed';
  const e = (typeof err === 'object' && err !== null ? err : {}) as NetLikeError;
  if (e.smtpAuthUnavailable) return 'protocol_error';
  if (e.oauthFailure === 'oauth_revoked' || e.oauthFailure === 'oauth_token_expired') return e.oauthFailure;
  // The token endpoint could not be reached or answered badly: transient, retried with backoff.
  if (e.oauthFailure === 'oauth_unavailable') return 'connection_failed';
  if (e.tlsFailed) return 'tls_failed';
  if (e.authenticationFailed) return 'auth_failed';
  // nodemailer replaces the socket's code with its own (ECONNECTION, ETLS…): the original is more precise.
  for (const code of [e.originalCode, e.code]) {
    if (typeof code !== 'string') continue;
    const category = categoryOfCode(code);
    if (category) return category;
  }
  if (e.code === 'EAUTH') return 'auth_failed';
  // OpenSSL errors without a Node code still name their library.
  if (typeof e.library === 'string' && /ssl|tls/i.test(e.library)) return 'tls_failed';
  return 'protocol_error';
}
