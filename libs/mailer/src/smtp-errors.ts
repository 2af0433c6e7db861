import { connectionFailureMessages } from '@pushmail/contracts';
import { MailHostRefusedError, classifyConnectionError } from '@pushmail/net-policy';

export type SmtpFailureKind = 'permanent' | 'transient';

interface SmtpLikeError {
  responseCode?: number;
  code?: string;
  response?: string;
  smtpAuthUnavailable?: boolean;
}

/** The server's answer to our envelope or message (after a successful login), as opposed to a connection failure. */
function isMessageRejection(e: SmtpLikeError): boolean {
  return e.code === 'EENVELOPE' || e.code === 'EMESSAGE';
}

/**
 * 5xx replies are final (bad recipient, rejected content, failed auth): retrying cannot help.
 * 4xx replies and network trouble (refused, reset, timeout) are worth retrying with backoff.
 * A server without AUTH and a host the policy refuses will not change by themselves either.
 */
export function classifySmtpError(err: unknown): SmtpFailureKind {
  const e = (err ?? {}) as SmtpLikeError;
  if (e.smtpAuthUnavailable) return 'permanent';
  if (err instanceof MailHostRefusedError) return err.refusal.code === 'host_not_allowed' ? 'permanent' : 'transient';
  if (typeof e.responseCode === 'number') return e.responseCode >= 500 && e.responseCode < 600 ? 'permanent' : 'transient';
  // Bad addresses are found before any reply arrives: no retry can fix those either.
  if (isMessageRejection(e)) return 'permanent';
  return 'transient';
}

/**
 * The short code clients see in `message.send_failed`. A reply to the envelope or the message
 * (the login succeeded, so it is the user's own server speaking) keeps its SMTP code,
 * `smtp_550`; anything before that is a connection category (`connection_failed`,
 * `tls_failed`, `timeout`, `auth_failed`, `protocol_error`, `host_not_allowed`), never an errno
 * or the server's banner.
 */
export function smtpErrorCode(err: unknown): string {
  const e = (err ?? {}) as SmtpLikeError;
  if (isMessageRejection(e)) return typeof e.responseCode === 'number' ? `smtp_${e.responseCode}` : 'message_rejected';
  return classifyConnectionError(err);
}

/** The text clients see with that code: the server's reply to the message, or a fixed sentence per category. */
export function smtpErrorMessage(err: unknown): string {
  const e = (err ?? {}) as SmtpLikeError & { message?: string };
  if (isMessageRejection(e)) return (e.response ?? e.message ?? 'the message was refused').slice(0, 300);
  return connectionFailureMessages[classifyConnectionError(err)];
}
