/** A folder as a LIST reports it: enough to decide whether `"*"` watches it. */
export interface ListedFolder {
  path: string;
  /** LIST flags (`\Noselect`, `\NonExistent`); absent: selectable. */
  flags?: ReadonlySet<string>;
  specialUse?: string | null;
}

/** `"*"` in an account's `mailboxes`: every selectable folder, except these special uses. */
export const WATCH_ALL_FOLDERS = '*';
/** `\All` would push every message twice (Gmail); `\Junk` and `\Trash` are noise. Named beside `"*"`, they are watched. */
export const SKIPPED_BY_WATCH_ALL = new Set(['\\All', '\\Junk', '\\Trash']);

function selectable(folder: ListedFolder): boolean {
  return !folder.flags?.has('\\Noselect') && !folder.flags?.has('\\NonExistent');
}

/**
 * The folders an account's `mailboxes` setting watches, given the server's folder list: named
 * folders as they are (a missing one is skipped by the session until it appears), and with `"*"`
 * every selectable listed folder except `\All`, `\Junk` and `\Trash`. Names are compared as the
 * server spells them, except INBOX, which IMAP makes case-insensitive.
 */
export function watchedFolders(spec: readonly string[], listed: readonly ListedFolder[]): string[] {
  const out = new Set<string>();
  const canonical = (name: string) => (name.toUpperCase() === 'INBOX' ? 'INBOX' : name);
  if (spec.includes(WATCH_ALL_FOLDERS)) {
    for (const f of listed) if (selectable(f) && !SKIPPED_BY_WATCH_ALL.has(f.specialUse ?? '')) out.add(canonical(f.path));
  }
  for (const name of spec) if (name !== WATCH_ALL_FOLDERS) out.add(canonical(name));
  return [...out];
}

/** Whether an account's `mailboxes` names this folder, or `"*"` covers it (for `mailbox.list`'s `watched`). */
export function isWatched(spec: readonly string[], folder: ListedFolder): boolean {
  return watchedFolders(spec, [folder]).includes(folder.path.toUpperCase() === 'INBOX' ? 'INBOX' : folder.path);
}
