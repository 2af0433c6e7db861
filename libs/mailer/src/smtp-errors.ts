export type SmtpFailureKind = 'permanent' | 'transient';

interface SmtpLikeError {
  responseCode?: number;
  code?: string;
}

/**
 * 5xx replies are final (bad recipient, rejected content, failed auth): retrying cannot help.
 * 4xx replies and network trouble (refused, reset, timeout) are worth retrying with backoff.
 */
export function classifySmtpError(err: unknown): SmtpFailureKind {
  const e = (err ?? {}) as SmtpLikeError;
  if (typeof e.responseCode === 'number') return e.responseCode >= 500 && e.responseCode < 600 ? 'permanent' : 'transient';
  // Bad addresses are found before any reply arrives: no retry can fix those either.
  if (e.code === 'EENVELOPE' || e.code === 'EMESSAGE') return 'permanent';
  return 'transient';
}

/** The short code clients see in `message.send_failed`. */
export function smtpErrorCode(err: unknown): string {
  const e = (err ?? {}) as SmtpLikeError;
  if (typeof e.responseCode === 'number') return `smtp_${e.responseCode}`;
  return e.code ? e.code.toLowerCase() : 'smtp_error';
}
