/** Server answers to LOGIN/AUTHENTICATE that mean "not now" rather than "wrong credentials". */
const TRANSIENT_LOGIN_CODES: ReadonlySet<string> = new Set(['LIMIT', 'UNAVAILABLE', 'INUSE', 'SERVERBUG', 'CONTACTADMIN']);

/**
 * Whether imapflow's error is the server refusing the credentials. Retrying such a login soon
 * only adds failed logins, which servers count towards a lockout; a transient code
 * (`[UNAVAILABLE]`, `[LIMIT]`…) is not a refusal.
 */
export function isLoginRefused(err: unknown): boolean {
  const e = err as { authenticationFailed?: boolean; serverResponseCode?: string } | null | undefined;
  return !!e?.authenticationFailed && !TRANSIENT_LOGIN_CODES.has(String(e.serverResponseCode ?? '').toUpperCase());
}
