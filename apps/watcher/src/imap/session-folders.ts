import { WATCH_ALL_FOLDERS, watchedFolders } from '@pushmail/contracts';
import type { ListResponse } from 'imapflow';
import { MailboxSyncService } from '../sync/mailbox-sync.service';
import { FolderOwner, FolderStatus, FolderSync, FolderSyncContext, statusChanged } from './folder-sync';

/** What the folder list uses of the process-wide session context: its folders' context, and the folder-list event. */
export interface SessionFoldersContext extends FolderSyncContext {
  sync: FolderSyncContext['sync'] & Pick<MailboxSyncService, 'mailboxesChanged'>;
}

/** A name NOTIFY MailboxName reported (as on the wire) → the old name of a renamed folder, undefined for a created one. */
export type NamedFolders = ReadonlyArray<readonly [wire: string, oldWire: string | undefined]>;

/**
 * What a NOTIFY STATUS asks of the session: list again (a folder the last LIST did not have),
 * visit a folder after its announced jobs settle, visit it now, or nothing.
 */
export type StatusOutcome = 'relist' | 'announced' | 'changed' | 'none';

/** How long after a folder-list change the list is read once more (see {@link SessionFolders.relisted}). */
export const FOLDER_LIST_RECHECK_MS = 3000;

/** INBOX is case-insensitive (RFC 3501 5.1): every other name is taken as the server spells it. */
const canonical = (path: string) => (path.toUpperCase() === 'INBOX' ? 'INBOX' : path);

/**
 * The folders one {@link ImapSession} watches, and which of them changed: the bookkeeping of the
 * folder list (LIST results, NOTIFY's MailboxName and STATUS reports, the sweep's STATUS), apart
 * from the connection that runs the commands. Each method runs after the session's own command
 * and decides; the session only sends commands and visits what is marked here.
 */
export class SessionFolders {
  private readonly byName = new Map<string, FolderSync>();
  /** Folders reported changed and not yet visited. */
  private readonly dirty = new Set<string>();
  /** Wire names NOTIFY MailboxName reported since the last LIST → the old name of a renamed one. */
  private readonly named = new Map<string, string | undefined>();
  /**
   * Folder names as the server sends them (modified UTF-7) → as the account names them, for the
   * names that differ (none, for ASCII names): a name not in it is the same on the wire.
   */
  private wireNames?: Map<string, string>;
  /** Every folder path of the last LIST, to tell clients when the folder list changed. */
  private listedPaths?: Set<string>;
  /** Folders found after the session's first LIST were created while it watched. */
  private listedOnce = false;
  /** When to list again while folders are changing (0: not due); see {@link relisted}. */
  private recheckAt = 0;

  constructor(
    /** The account's `mailboxes`: names, and `"*"` for every folder (see {@link watchedFolders}). */
    private readonly watch: readonly string[],
    /** The folder the session keeps selected under IDLE: never dropped, even when a listing lacks it. */
    private readonly home: string,
    private readonly owner: FolderOwner,
    private readonly ctx: SessionFoldersContext,
  ) {}

  /**
   * Whether anything beside the home folder is watched: an INBOX-only account costs what it did
   * before folders (IDLE alone: no LIST, no NOTIFY, no sweep, no folder-list events).
   */
  get watchesOthers(): boolean {
    return this.watch.includes(WATCH_ALL_FOLDERS) || this.byName.size > 1 || this.watch.length > 1;
  }

  /** The watched folder of that path (INBOX in any case), if it is watched. */
  get(path: string): FolderSync | undefined {
    return this.byName.get(canonical(path));
  }

  all(): IterableIterator<FolderSync> {
    return this.byName.values();
  }

  get hasDirty(): boolean {
    return this.dirty.size > 0;
  }

  /** The folders marked changed, unmarked: the caller visits them. */
  takeDirty(): string[] {
    const names = [...this.dirty];
    this.dirty.clear();
    return names;
  }

  /** `folder` is being visited: a change noticed from now on marks it again. */
  unmark(folder: FolderSync): void {
    this.dirty.delete(folder.mailbox);
  }

  /** A new connection: its folders' UID guesses belong to the one before. */
  resetGuesses(): void {
    for (const folder of this.byName.values()) folder.resetGuesses();
  }

  /**
   * Takes a LIST in: new watched folders get a {@link FolderSync} (and, once connected, a visit,
   * which baselines them), gone ones are dropped. Their cursors stay: a folder deleted and created
   * again then reports a reset for the old UIDVALIDITY. Returns whether the folder list differs
   * from the last one (then clients were told, with `mailboxes.changed`).
   */
  async listed(listed: readonly ListResponse[], connected: boolean): Promise<boolean> {
    let wireNames: Map<string, string> | undefined;
    for (const f of listed) if (f.pathAsListed !== f.path) (wireNames ??= new Map()).set(f.pathAsListed, f.path);
    this.wireNames = wireNames;
    const names = watchedFolders(this.watch, listed);
    const listedNames = new Set(listed.map((f) => canonical(f.path)));
    const added: string[] = [];
    for (const name of names) {
      const folder = this.byName.get(name);
      if (!folder) {
        const created = new FolderSync(name, this.owner, this.ctx);
        // Appeared since this session first listed (created while watched): nothing in it is old news.
        created.fromStart = this.listedOnce;
        this.byName.set(name, created);
        added.push(name);
      } else if (folder.missing && listedNames.has(name)) {
        added.push(name);
      }
    }
    const removed = [...this.byName.keys()].filter((name) => !names.includes(name) && name !== this.home);
    if (connected) await this.moveRenamedCursors(listed, added, removed);
    for (const name of removed) {
      this.byName.delete(name);
      this.dirty.delete(name);
    }
    if (connected) for (const name of added) this.dirty.add(name);
    this.listedOnce = true;
    if (connected && (added.length || removed.length)) this.ctx.logger.log({ msg: 'watched folders changed', accountId: this.owner.accountId, added, removed });
    // Any folder created, renamed or deleted (watched or not) changes what clients list. A watched
    // folder's name is the FolderSync's string: each LIST's copies are dropped.
    const paths = new Set(listed.map((f) => this.byName.get(f.path)?.mailbox ?? f.path));
    const before = this.listedPaths;
    this.listedPaths = paths;
    // Also on a reconnect (not connected yet, but listed before): what changed while it was down.
    const moved = !!before && (before.size !== paths.size || [...paths].some((p) => !before.has(p)));
    if (moved) await this.ctx.sync.mailboxesChanged(this.owner.accountId);
    return moved;
  }

  /**
   * A sweep sees a rename as one folder gone and one new with the same UIDVALIDITY (a rename keeps
   * it; a new folder gets a new one): the cursor moves, so the renamed folder's mail is not replayed.
   */
  private async moveRenamedCursors(listed: readonly ListResponse[], added: string[], removed: string[]): Promise<void> {
    const gone = removed.map((name) => this.byName.get(name)).filter((f): f is FolderSync => !!f?.cursor);
    if (!gone.length) return;
    for (const name of added) {
      const uidValidity = listed.find((f) => f.path === name)?.status?.uidValidity;
      const from = uidValidity === undefined ? undefined : gone.find((f) => f.uidValidity === Number(uidValidity));
      const cursor = from?.cursorToCarry();
      if (from && cursor && !(await this.ctx.sync.getCursor({ ...from.ref, mailbox: name }))) await this.ctx.sync.saveCursor({ ...from.ref, mailbox: name }, cursor);
    }
  }

  /** NOTIFY MailboxName (or SubscriptionChange) named a folder: kept for the next LIST, which the session runs. */
  noteNamed(wire: string, oldWire: string | undefined): void {
    this.named.set(wire, oldWire);
  }

  /**
   * Before the LIST that NOTIFY's folder-list reports asked for: a renamed folder's cursor moves to
   * the new name (same UIDVALIDITY, so it resumes where it was, also for mail that landed after the
   * rename but before Dovecot reported it). Returns the names reported, for {@link relisted}.
   */
  async carryRenamedCursors(): Promise<NamedFolders> {
    const named = [...this.named];
    this.named.clear();
    for (const [wire, oldWire] of named) {
      const from = oldWire === undefined ? undefined : this.byName.get(this.decode(oldWire));
      const cursor = from?.cursorToCarry();
      if (!from || !cursor) continue;
      // Decoded only after the next LIST; an ASCII name (most) is the same on the wire.
      const to = this.decode(wire);
      if (this.byName.has(to) || (await this.ctx.sync.getCursor({ ...from.ref, mailbox: to }))) continue;
      await this.ctx.sync.saveCursor({ ...from.ref, mailbox: to }, cursor);
    }
    return named;
  }

  /**
   * After that LIST (taken in by {@link listed}): every folder named is marked for a visit (one
   * deleted and created again then reports its reset), except `selected`, whose own events cover it.
   */
  relisted(named: NamedFolders, listed: readonly ListResponse[], moved: boolean, selected: FolderSync | undefined, now: number): void {
    // Dovecot 2.3.19 at times reports nothing at all for a folder change made just after this
    // session's own LIST: a folder deleted 10 ms after the LIST that followed its rename notice was
    // never reported (the folders test, 2 runs in 3). While folders are changing, the list is read
    // once more FOLDER_LIST_RECHECK_MS later; a recheck that finds nothing new ends it, so a quiet
    // account costs nothing and a burst of changes one LIST more.
    this.recheckAt = named.length || moved ? now + FOLDER_LIST_RECHECK_MS : 0;
    const validityOf = new Map(listed.map((f) => [canonical(f.path), f.status?.uidValidity]));
    for (const [wire, oldWire] of named) {
      const folder = this.byName.get(this.decode(wire));
      if (!folder || folder === selected) continue;
      // A create notice for a folder this session has already examined under the same UIDVALIDITY
      // is late news, not a change: Dovecot announces the special folders it auto-creates at a
      // user's first login just after NOTIFY SET, and revisiting them kept INBOX unselected while
      // mail arrived (found by a resync, not its EXISTS). Renames and re-creations are visited.
      const validity = validityOf.get(folder.mailbox);
      if (oldWire === undefined && validity !== undefined && folder.status?.uidValidity === Number(validity)) continue;
      this.dirty.add(folder.mailbox);
    }
  }

  /** Whether the recheck {@link relisted} planned is due; it is then taken (at most one LIST per plan). */
  recheckDue(now: number): boolean {
    if (!this.recheckAt || now < this.recheckAt) return false;
    this.recheckAt = 0;
    return true;
  }

  /**
   * A NOTIFY STATUS: new mail's jobs go out at once (before the session leaves IDLE to examine the
   * folder), and the folder is marked for a visit.
   */
  notifyStatus(wireName: string, status: FolderStatus, selected: FolderSync | undefined, now: number): StatusOutcome {
    const name = this.decode(wireName);
    if (!this.listedPaths?.has(name) && !this.byName.has(name)) {
      // A folder the last LIST did not have: created or renamed, its MailboxName report late or lost.
      this.named.set(wireName, undefined);
      return 'relist';
    }
    const folder = this.get(name);
    // A folder not watched (\Junk under "*", say), or an echo for the one selected (its own events cover it).
    if (!folder || folder === selected) return 'none';
    // Dovecot echoes a STATUS for a folder some time after it was examined, with nothing changed
    // (seen on 2.3.19 after a folder's first EXAMINE). Revisiting on the echo took the session
    // through its folders again after a connect, with INBOX unselected meanwhile, so mail arriving
    // then was found by a resync instead of its EXISTS. With HIGHESTMODSEQ in it an unchanged STATUS
    // is no news (flag changes move it); without it one cannot tell, so the folder is visited.
    if (status.highestModseq !== undefined && !statusChanged(folder.status, status)) return 'none';
    if (!folder.seenAt) folder.seenAt = now;
    const announced = folder.announceAssigned(status, now);
    this.dirty.add(folder.mailbox);
    return announced ? 'announced' : 'changed';
  }

  /** A sweep's LIST with STATUS (no NOTIFY): folders whose STATUS moved announce their new mail and are marked for a visit. */
  swept(listed: readonly ListResponse[], selected: FolderSync | undefined, now: number): void {
    for (const entry of listed) {
      const folder = this.get(entry.path);
      if (!folder || folder === selected || !entry.status) continue;
      const s = entry.status;
      const status: FolderStatus = {
        ...(s.messages !== undefined ? { messages: s.messages } : {}),
        ...(s.uidNext !== undefined ? { uidNext: s.uidNext } : {}),
        ...(s.uidValidity !== undefined ? { uidValidity: Number(s.uidValidity) } : {}),
        ...(s.highestModseq !== undefined ? { highestModseq: s.highestModseq.toString() } : {}),
        ...(s.unseen !== undefined ? { unseen: s.unseen } : {}),
      };
      if (!statusChanged(folder.status, status)) continue;
      folder.announceAssigned(status, now);
      this.dirty.add(folder.mailbox);
    }
  }

  private decode(wire: string): string {
    return this.wireNames?.get(wire) ?? wire;
  }
}
