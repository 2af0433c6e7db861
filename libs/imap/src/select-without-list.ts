import type { ImapFlow } from 'imapflow';

/**
 * imapflow sends LIST, then LSUB, before the first SELECT or EXAMINE of a mailbox on a connection,
 * to copy its delimiter and special use into the opened mailbox object (commands/select.js), which
 * neither the fetcher's pool nor a watcher session reads: two round trips of every new connection
 * that opens one mailbox (a pooled fetch; an INBOX-only watcher session, which never LISTs). On
 * this machine's Dovecot at a load average of 9 (2 cores), LIST and LSUB took 31 and 35 ms at p50
 * of a new pooled connection's fetch. imapflow skips them for a mailbox it has an entry for, so one
 * with just the path is put there.
 *
 * A path imapflow normalizes differently (a namespace prefix) misses the entry and is listed as
 * before; a mailbox that does not exist still fails its SELECT, which imapflow then checks with a
 * LIST (mailboxMissing). The cache is an untyped internal, reached through a narrow, checked
 * test: an imapflow without it is left alone (and lists as before).
 */
export function skipListBeforeSelect(client: ImapFlow, path: string): void {
  const c: object = client;
  if (!('folders' in c) || !(c.folders instanceof Map) || c.folders.has(path)) return;
  c.folders.set(path, { path });
}
