/** What nodemailer's sendMail resolves with, as far as an LMTP delivery's outcome goes. */
export interface LmtpSendInfo {
  accepted?: unknown[];
  rejected?: unknown[];
  rejectedErrors?: Array<Error & { response?: string }>;
  response?: string;
}

/**
 * Why an LMTP delivery was not stored, or null when it was. LMTP answers DATA once per recipient,
 * and nodemailer resolves sendMail even when that answer is a failure (Dovecot's "421 4.3.2
 * Shutting down", a 552 over quota): it only moves the recipient to `rejected`. A bench that took
 * the resolved promise for a 250 would time a delivery that never happened and then count it lost.
 * The same check as TestDovecot.deliver's (libs/testing).
 */
export function lmtpRejection(info: LmtpSendInfo): string | null {
  if (info.accepted?.length && !info.rejected?.length) return null;
  return info.rejectedErrors?.map((e) => e.response ?? e.message).join('; ') || info.response || 'no 2xx reply after DATA';
}
