import type { ListResponse, StatusObject } from 'imapflow';
import { FolderOwner, FolderSync } from './folder-sync';
import { FOLDER_LIST_RECHECK_MS, SessionFolders } from './session-folders';
import { FakeSessionContext } from './session-context.fake';

const owner: FolderOwner = { accountId: 'acc-1', leaseValue: 'lease-1', live: () => true };

/** One LIST entry as imapflow reports it; `wire` is the name as the server spelled it (modified UTF-7). */
function entry(path: string, options: { specialUse?: string; status?: Omit<StatusObject, 'path'>; wire?: string } = {}): ListResponse {
  const parts = path.split('/');
  return {
    path,
    pathAsListed: options.wire ?? path,
    name: parts[parts.length - 1],
    delimiter: '/',
    parent: parts.slice(0, -1),
    parentPath: parts.slice(0, -1).join('/'),
    flags: new Set(),
    ...(options.specialUse ? { specialUse: options.specialUse } : {}),
    listed: true,
    subscribed: true,
    ...(options.status ? { status: { path, ...options.status } } : {}),
  };
}

const LISTED = [entry('INBOX', { specialUse: '\\Inbox' }), entry('Sent', { specialUse: '\\Sent' }), entry('Junk', { specialUse: '\\Junk' }), entry('Rules')];
const flush = () => new Promise((r) => setImmediate(r));

/** A folder as its visit leaves it: examined under `uidValidity`, cursor at `uidNext`. */
function examined(folder: FolderSync | undefined, uidValidity: number, uidNext: number): FolderSync {
  if (!folder) throw new Error('folder not watched');
  folder.uidValidity = uidValidity;
  folder.cursor = { uidValidity, uidNext, highestModseq: '100' };
  folder.status = { messages: uidNext - 1, uidNext, uidValidity, highestModseq: '100' };
  return folder;
}

/** A `"*"` session's folders after its first LIST, as at connect. */
async function listedOnce(ctx = new FakeSessionContext()): Promise<{ ctx: FakeSessionContext; folders: SessionFolders }> {
  const folders = new SessionFolders(['*'], 'INBOX', owner, ctx);
  expect(await folders.listed(LISTED, false)).toBe(false);
  return { ctx, folders };
}

describe('SessionFolders: the LIST', () => {
  it('watches what "*" means, in any case for INBOX, and marks nothing at connect (the connect visits every folder)', async () => {
    const { ctx, folders } = await listedOnce();
    expect([...folders.all()].map((f) => f.mailbox)).toEqual(['INBOX', 'Sent', 'Rules']);
    expect(folders.get('inbox')?.mailbox).toBe('INBOX');
    expect(folders.get('Junk')).toBeUndefined();
    expect(folders.watchesOthers).toBe(true);
    expect(folders.hasDirty).toBe(false);
    expect(ctx.folderListChanges).toBe(0);
  });

  it('an INBOX-only account watches nothing else', async () => {
    const folders = new SessionFolders(['INBOX'], 'INBOX', owner, new FakeSessionContext());
    await folders.listed([], false);
    expect(folders.watchesOthers).toBe(false);
    expect([...folders.all()].map((f) => f.mailbox)).toEqual(['INBOX']);
  });

  it('keeps the home folder when a listing lacks it (the session cannot IDLE without it)', async () => {
    const { folders } = await listedOnce();
    await folders.listed(LISTED.filter((f) => f.path !== 'INBOX'), true);
    expect(folders.get('INBOX')).toBeDefined();
    expect(folders.get('Sent')).toBeDefined();
  });

  it('a folder created while watched is marked, synced from UID 1, and clients are told; a deleted one is dropped and unmarked', async () => {
    const { ctx, folders } = await listedOnce();
    const created = [...LISTED.filter((f) => f.path !== 'Rules'), entry('Projects')];
    expect(await folders.listed(created, true)).toBe(true);
    expect(folders.get('Projects')?.fromStart).toBe(true);
    expect(folders.get('Rules')).toBeUndefined();
    expect(folders.takeDirty()).toEqual(['Projects']);
    expect(folders.hasDirty).toBe(false);
    expect(ctx.folderListChanges).toBe(1);
    // The same list again: nothing moved, nothing to tell.
    expect(await folders.listed(created, true)).toBe(false);
    expect(ctx.folderListChanges).toBe(1);
  });

  it('tells clients when an unwatched folder appears too (it is in their list)', async () => {
    const { ctx, folders } = await listedOnce();
    expect(await folders.listed([...LISTED, entry('Trash', { specialUse: '\\Trash' })], true)).toBe(true);
    expect(folders.get('Trash')).toBeUndefined();
    expect(folders.hasDirty).toBe(false);
    expect(ctx.folderListChanges).toBe(1);
  });

  it('a sweep that sees a folder gone and one new under its UIDVALIDITY moves the cursor (a rename), not for another UIDVALIDITY', async () => {
    const { ctx, folders } = await listedOnce();
    examined(folders.get('Rules'), 7, 10);
    const renamed = [...LISTED.filter((f) => f.path !== 'Rules'), entry('Filed', { status: { uidValidity: 7n } })];
    await folders.listed(renamed, true);
    expect(ctx.cursors.get('Filed')).toEqual({ uidValidity: 7, uidNext: 10, highestModseq: '100' });

    const other = await listedOnce();
    examined(other.folders.get('Rules'), 7, 10);
    await other.folders.listed([...LISTED.filter((f) => f.path !== 'Rules'), entry('Filed', { status: { uidValidity: 8n } })], true);
    expect(other.ctx.cursors.has('Filed')).toBe(false);
  });
});

describe('SessionFolders: NOTIFY', () => {
  it('a rename notice moves the cursor before the LIST, marks the renamed folder after it, and plans one recheck', async () => {
    const { ctx, folders } = await listedOnce();
    examined(folders.get('Rules'), 7, 10);
    folders.noteNamed('Filed', 'Rules');
    const named = await folders.carryRenamedCursors();
    expect(ctx.cursors.get('Filed')).toEqual({ uidValidity: 7, uidNext: 10, highestModseq: '100' });
    const listed = [...LISTED.filter((f) => f.path !== 'Rules'), entry('Filed', { status: { uidValidity: 7n } })];
    const moved = await folders.listed(listed, true);
    folders.relisted(named, listed, moved, folders.get('INBOX'), 1000);
    expect(folders.takeDirty()).toEqual(['Filed']);
    expect(folders.recheckDue(1000 + FOLDER_LIST_RECHECK_MS - 1)).toBe(false);
    expect(folders.recheckDue(1000 + FOLDER_LIST_RECHECK_MS)).toBe(true);
    expect(folders.recheckDue(1000 + FOLDER_LIST_RECHECK_MS)).toBe(false);
    // Taken: the next LIST starts from nothing named.
    expect(await folders.carryRenamedCursors()).toEqual([]);
  });

  it('a rename does not overwrite a cursor the new name already has', async () => {
    const { ctx, folders } = await listedOnce();
    examined(folders.get('Rules'), 7, 10);
    ctx.cursors.set('Filed', { uidValidity: 9, uidNext: 3 });
    folders.noteNamed('Filed', 'Rules');
    await folders.carryRenamedCursors();
    expect(ctx.cursors.get('Filed')).toEqual({ uidValidity: 9, uidNext: 3 });
  });

  it('a create notice for a folder already examined under the same UIDVALIDITY is late news; a re-creation is marked', async () => {
    const { folders } = await listedOnce();
    examined(folders.get('Sent'), 5, 4);
    examined(folders.get('Rules'), 7, 10);
    folders.noteNamed('Sent', undefined);
    folders.noteNamed('Rules', undefined);
    const named = await folders.carryRenamedCursors();
    const listed = LISTED.map((f) => (f.path === 'Sent' ? entry('Sent', { specialUse: '\\Sent', status: { uidValidity: 5n } }) : f.path === 'Rules' ? entry('Rules', { status: { uidValidity: 8n } }) : f));
    folders.relisted(named, listed, await folders.listed(listed, true), folders.get('INBOX'), 0);
    expect(folders.takeDirty()).toEqual(['Rules']);
  });

  it('a STATUS with new mail enqueues its jobs at once and marks the folder; an echo, the selected folder and unwatched ones are no news', async () => {
    const { ctx, folders } = await listedOnce();
    const rules = examined(folders.get('Rules'), 7, 10);
    const inbox = examined(folders.get('INBOX'), 1, 50);
    expect(folders.notifyStatus('Rules', { ...rules.status, highestModseq: '100' }, inbox, 1)).toBe('none');
    expect(folders.notifyStatus('Junk', { uidNext: 4, highestModseq: '7' }, inbox, 1)).toBe('none');
    expect(folders.notifyStatus('INBOX', { uidNext: 51, highestModseq: '101' }, inbox, 1)).toBe('none');
    expect(folders.hasDirty).toBe(false);
    expect(folders.notifyStatus('Rules', { messages: 10, uidNext: 11, uidValidity: 7, highestModseq: '101' }, inbox, 1234)).toBe('announced');
    await flush();
    expect(ctx.newUids()).toEqual([[10]]);
    expect(folders.takeDirty()).toEqual(['Rules']);
    // A flag change: nothing to announce, but the folder is visited for it.
    expect(folders.notifyStatus('Rules', { messages: 10, uidNext: 11, uidValidity: 7, highestModseq: '102' }, inbox, 1300)).toBe('changed');
    expect(folders.takeDirty()).toEqual(['Rules']);
  });

  it('a STATUS of a folder the last LIST did not have asks for a LIST, which then marks it', async () => {
    const { folders } = await listedOnce();
    expect(folders.notifyStatus('Projects', { uidNext: 2, highestModseq: '1' }, undefined, 1)).toBe('relist');
    const named = await folders.carryRenamedCursors();
    expect(named).toEqual([['Projects', undefined]]);
    const listed = [...LISTED, entry('Projects')];
    folders.relisted(named, listed, await folders.listed(listed, true), undefined, 0);
    expect(folders.takeDirty()).toEqual(['Projects']);
  });

  it('decodes the wire names of the last LIST (modified UTF-7)', async () => {
    const ctx = new FakeSessionContext();
    const folders = new SessionFolders(['*'], 'INBOX', owner, ctx);
    await folders.listed([entry('INBOX'), entry('Bücher', { wire: 'B&APw-cher' })], false);
    examined(folders.get('Bücher'), 3, 2);
    expect(folders.notifyStatus('B&APw-cher', { messages: 2, uidNext: 3, uidValidity: 3, highestModseq: '101' }, undefined, 1)).toBe('announced');
    await flush();
    expect(ctx.enqueued.map((e) => [e.mailbox, e.batch.newUids])).toEqual([['Bücher', [2]]]);
  });
});

describe('SessionFolders: the sweep (no NOTIFY)', () => {
  it('announces and marks the folders whose STATUS moved, not the selected one, not the unchanged ones', async () => {
    const { ctx, folders } = await listedOnce();
    const inbox = examined(folders.get('INBOX'), 1, 50);
    examined(folders.get('Sent'), 5, 4);
    examined(folders.get('Rules'), 7, 10);
    const swept = [
      entry('INBOX', { status: { messages: 50, uidNext: 51, uidValidity: 1n, highestModseq: 101n } }),
      entry('Sent', { status: { messages: 3, uidNext: 4, uidValidity: 5n, highestModseq: 100n } }),
      entry('Junk', { specialUse: '\\Junk', status: { messages: 9, uidNext: 10, uidValidity: 2n, highestModseq: 100n } }),
      entry('Rules', { status: { messages: 11, uidNext: 12, uidValidity: 7n, highestModseq: 102n } }),
    ];
    await folders.listed(swept, true);
    folders.swept(swept, inbox, 1);
    await flush();
    expect(folders.takeDirty()).toEqual(['Rules']);
    expect(ctx.newUids()).toEqual([[10, 11]]);
  });
});
