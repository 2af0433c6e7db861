import { createHash } from 'node:crypto';

/**
 * The digest that names an IMAP login (host, user) in the mailbox index. A digest rather than the
 * pair itself keeps user names (personal data, stored encrypted in the account) out of key names;
 * being unkeyed it is pseudonymous, not secret, like the user ids in `pm:user:<id>:accounts`, but
 * every app can compute it without the credential key, so a key rotation leaves the index valid.
 *
 * Host names compare case-insensitively and without a trailing dot; the user name is compared
 * exactly: a mail server's user names may be case-sensitive, and mapping a notification to the
 * wrong mailbox would fetch someone else's UID.
 */
export function mailboxIndexDigest(host: string, user: string): string {
  const normalizedHost = host.trim().toLowerCase().replace(/\.$/, '');
  return createHash('sha256').update('pushmail-mailbox-index\0').update(normalizedHost).update('\0').update(user).digest('base64url');
}
