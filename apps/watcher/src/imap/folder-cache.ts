import type { ImapFlow } from 'imapflow';

/*
 * imapflow keeps every entry of the last LIST in `client.folders` (path → ListResponse: a flags Set,
 * a parent array, four strings, the STATUS of a LIST-STATUS, ...) for the life of the connection,
 * only so that SELECT/EXAMINE can copy four fields of the opened folder into its mailbox object
 * (commands/select.js, imapflow 2.10) and skip a LIST of its own. A watcher session holding an
 * account's 20 folders kept ~20 such entries per account at rest. The member is an untyped internal,
 * so it is reached through the narrow, checked interface below: an imapflow without it is left alone.
 */

/** The fields of a cached LIST entry that imapflow's SELECT reads. */
export interface CachedFolder {
  delimiter?: string;
  specialUse?: string;
  subscribed?: boolean;
  listed?: boolean;
}

function folderCache(client: ImapFlow): Map<string, CachedFolder> | undefined {
  const c: object = client;
  if (!('folders' in c) || !(c.folders instanceof Map)) return undefined;
  return c.folders;
}

/**
 * Replaces imapflow's cache of the last LIST by entries for the folders `keep` names (the watched
 * ones: the only folders the session opens, so no EXAMINE costs an extra LIST), each holding only
 * what SELECT reads. `keep` returns the string to key the entry by (the session's own copy of the
 * name, so the cache adds no string of its own), or undefined to drop the entry. Entries with the
 * same fields share one object (most folders differ only in name); SELECT only reads them.
 */
export function slimFolderCache(client: ImapFlow, keep: (path: string) => string | undefined): void {
  const cache = folderCache(client);
  if (!cache) return;
  const slim = new Map<string, CachedFolder>();
  const shared = new Map<string, CachedFolder>();
  for (const [path, entry] of cache) {
    const key = keep(path);
    if (key === undefined) continue;
    const kept: CachedFolder = {};
    if (entry.delimiter) kept.delimiter = entry.delimiter;
    if (entry.specialUse) kept.specialUse = entry.specialUse;
    if (entry.subscribed) kept.subscribed = true;
    if (entry.listed) kept.listed = true;
    const sameAs = JSON.stringify(kept);
    let one = shared.get(sameAs);
    if (!one) shared.set(sameAs, (one = kept));
    slim.set(key, one);
  }
  cache.clear();
  for (const [key, kept] of slim) cache.set(key, kept);
}
