import { MailboxCursor } from '@pushmail/mailbox-cursors';
import type { FetchMessageObject, MailboxObject, SearchObject } from 'imapflow';
import { Counter, Histogram } from 'prom-client';
import { MailboxBatch, MailboxRef } from '../sync/mailbox-sync.service';
import { FolderClient, FolderOwner, FolderSync, FolderSyncContext } from './folder-sync';

/** A typed fake of what a folder uses: records enqueues and cursor writes, Redis is not involved. */
class FakeFolderContext implements FolderSyncContext {
  readonly enqueued: Array<{ ref: MailboxRef; uidValidity: number; batch: MailboxBatch }> = [];
  readonly saved: MailboxCursor[] = [];
  readonly debugged: unknown[] = [];
  failEnqueue = false;
  /** The folder's cursor in Redis: what getCursor answers, and what saveCursor replaces. */
  stored: MailboxCursor | null = null;
  readonly sync: FolderSyncContext['sync'] = {
    enqueue: async (ref, uidValidity, batch) => {
      if (this.failEnqueue) throw new Error('redis down');
      this.enqueued.push({ ref, uidValidity, batch });
      return batch.newUids?.length ?? 0;
    },
    withdraw: async () => undefined,
    getCursor: async () => this.stored && { ...this.stored },
    saveCursor: async (_ref, cursor) => {
      this.saved.push(cursor);
      this.stored = { ...cursor };
    },
  };
  readonly metrics: FolderSyncContext['metrics'] = {
    existsToEnqueue: new Histogram({ name: 'test_exists_to_enqueue_ms', help: 'test', registers: [] }),
    uidGuesses: new Counter({ name: 'test_uid_guesses_total', help: 'test', labelNames: ['outcome'], registers: [] }),
  };
  readonly logger: FolderSyncContext['logger'] = {
    log: () => undefined,
    debug: (message: unknown) => {
      this.debugged.push(message);
    },
  };
}

const owner: FolderOwner = { accountId: 'acc-1', leaseValue: 'lease-1', live: () => true };
const flush = () => new Promise((r) => setImmediate(r));

/** A folder as a visit leaves it: examined under UIDVALIDITY 7, cursor at UID 10. */
function examinedFolder(ctx: FakeFolderContext): FolderSync {
  const folder = new FolderSync('Rules', owner, ctx);
  folder.uidValidity = 7;
  folder.cursor = { uidValidity: 7, uidNext: 10, highestModseq: '100' };
  return folder;
}

describe('FolderSync: new mail announced from a STATUS of an unselected folder', () => {
  it('enqueues the fetch jobs of the UIDs below the new UIDNEXT at once, under the folder’s ref, and leaves the cursor to the visit', async () => {
    const ctx = new FakeFolderContext();
    const folder = examinedFolder(ctx);
    expect(folder.announceAssigned({ messages: 5, uidNext: 12, highestModseq: '103' }, 1234)).toBe(true);
    await flush();
    expect(ctx.enqueued).toEqual([{ ref: { accountId: 'acc-1', mailbox: 'Rules', leaseValue: 'lease-1' }, uidValidity: 7, batch: { newUids: [10, 11], seenAt: 1234 } }]);
    expect(folder.cursor).toEqual({ uidValidity: 7, uidNext: 10, highestModseq: '100' });
    expect(ctx.saved).toEqual([]);
  });

  it('announces each UID once across STATUS reports, and EXISTS guesses continue after them', async () => {
    const ctx = new FakeFolderContext();
    const folder = examinedFolder(ctx);
    folder.announceAssigned({ uidNext: 12 }, 1);
    folder.announceAssigned({ uidNext: 12 }, 2);
    folder.announceAssigned({ uidNext: 13 }, 3);
    folder.announceGuesses({ count: 6, prevCount: 5 });
    await flush();
    expect(ctx.enqueued.map((e) => e.batch.newUids)).toEqual([[10, 11], [12], [13]]);
  });

  it('announces nothing for a STATUS of another UID space or of a folder not examined yet', async () => {
    const ctx = new FakeFolderContext();
    expect(examinedFolder(ctx).announceAssigned({ uidNext: 12, uidValidity: 8 }, 1)).toBe(false);
    expect(new FolderSync('Other', owner, ctx).announceAssigned({ uidNext: 12 }, 1)).toBe(false);
    // A flag change or an expunge moves no UIDNEXT: nothing announced, so its visit does not wait.
    expect(examinedFolder(ctx).announceAssigned({ uidNext: 10, highestModseq: '101' }, 1)).toBe(false);
    await flush();
    expect(ctx.enqueued).toEqual([]);
  });

  it('only logs a failed early enqueue (the visit enqueues the same jobs)', async () => {
    const ctx = new FakeFolderContext();
    ctx.failEnqueue = true;
    examinedFolder(ctx).announceAssigned({ uidNext: 11 }, 1);
    await flush();
    expect(ctx.debugged).toEqual([expect.objectContaining({ msg: expect.stringContaining('early enqueue from STATUS failed'), mailbox: 'Rules' })]);
  });

  it('carries the cursor past the UIDs whose announced jobs Redis confirmed to a rename, and no further', async () => {
    const ctx = new FakeFolderContext();
    const folder = examinedFolder(ctx);
    folder.announceAssigned({ uidNext: 12 }, 1);
    // Not confirmed yet: the cursor as the last visit left it.
    expect(folder.cursorToCarry()).toEqual({ uidValidity: 7, uidNext: 10, highestModseq: '100' });
    await flush();
    expect(folder.cursorToCarry()).toEqual({ uidValidity: 7, uidNext: 12, highestModseq: '100' });
    expect(folder.cursor?.uidNext).toBe(10);
    ctx.failEnqueue = true;
    folder.announceAssigned({ uidNext: 14 }, 2);
    await flush();
    expect(folder.cursorToCarry()?.uidNext).toBe(12);
  });

  it('carries a rename past confirmed UIDs only while they run unbroken from the cursor', async () => {
    const ctx = new FakeFolderContext();
    const folder = examinedFolder(ctx);
    ctx.failEnqueue = true;
    folder.announceAssigned({ uidNext: 12 }, 1);
    await flush();
    ctx.failEnqueue = false;
    folder.announceAssigned({ uidNext: 14 }, 2);
    await flush();
    // 12 and 13 are in Redis, 10 and 11 are not: carrying the cursor to 14 would lose them.
    expect(ctx.enqueued.map((e) => e.batch.newUids)).toEqual([[12, 13]]);
    expect(folder.cursorToCarry()?.uidNext).toBe(10);
  });

  it('does not enqueue again on its visit what an announcement put in Redis, and does enqueue what one could not', async () => {
    const ctx = new FakeFolderContext();
    const folder = examinedFolder(ctx);
    ctx.stored = { uidValidity: 7, uidNext: 10, highestModseq: '100' };
    folder.announceAssigned({ uidNext: 12 }, 1);
    await flush();
    ctx.failEnqueue = true;
    folder.announceAssigned({ uidNext: 13 }, 2);
    await flush();
    ctx.failEnqueue = false;
    const client = new FakeFolderClient([1, 2, 10, 11, 12, 13], []);
    await folder.resync(client, { path: 'Rules', delimiter: '/', flags: new Set(), uidValidity: 7n, uidNext: 14, exists: 6 }, false);
    expect(ctx.enqueued.map((e) => e.batch.newUids)).toEqual([[10, 11], [12, 13]]);
    expect(ctx.stored).toMatchObject({ uidValidity: 7, uidNext: 14 });
    // Past the cursor now: nothing left to carry beyond it.
    expect(folder.cursorToCarry()?.uidNext).toBe(14);
  });
});

describe('FolderSync: read state without CONDSTORE (the `unseen` baseline)', () => {
  /** A folder of a server without CONDSTORE as a resync leaves it: UIDs 1-9, 3 and 5 unread. */
  function plainFolder(ctx: FakeFolderContext): FolderSync {
    const folder = new FolderSync('Reports', owner, ctx);
    folder.uidValidity = 7;
    folder.cursor = { uidValidity: 7, uidNext: 10 };
    folder.unseen = [3, 5];
    return folder;
  }

  it('enqueues a read or unread change the selected folder reports, then folds it into the baseline and saves it', async () => {
    const ctx = new FakeFolderContext();
    const folder = plainFolder(ctx);
    folder.onFlags({ uid: 3, flags: new Set(['\\Seen']) });
    folder.onFlags({ uid: 7, flags: new Set() });
    await folder.flushChanges();
    expect(ctx.enqueued.map((e) => e.batch.changes)).toEqual([
      [
        { kind: 'flags', uid: 3, flags: ['\\Seen'] },
        { kind: 'flags', uid: 7, flags: [] },
      ],
    ]);
    expect(folder.unseen).toEqual([5, 7]);
    expect(ctx.saved).toEqual([{ uidValidity: 7, uidNext: 10, unseenUids: '5,7' }]);
  });

  it('saves no cursor for a flag change that leaves read state as it was', async () => {
    const ctx = new FakeFolderContext();
    const folder = plainFolder(ctx);
    folder.onFlags({ uid: 3, flags: new Set(['\\Flagged']) });
    await folder.flushChanges();
    expect(ctx.enqueued).toHaveLength(1);
    expect(folder.unseen).toEqual([3, 5]);
    expect(ctx.saved).toEqual([]);
  });

  it('keeps no baseline where CONDSTORE is there (MODSEQ says what changed)', async () => {
    const ctx = new FakeFolderContext();
    const folder = examinedFolder(ctx);
    folder.condstore = true;
    folder.onFlags({ uid: 3, flags: new Set(['\\Seen']), modseq: 101n });
    await folder.flushChanges();
    expect(folder.unseen).toBeUndefined();
    expect(ctx.saved).toEqual([{ uidValidity: 7, uidNext: 10, highestModseq: '101' }]);
  });
});

/**
 * A typed fake of a folder's connection to a server without CONDSTORE or QRESYNC: the folder's UIDs
 * and the unread ones, answering the searches and the FLAGS fetch a resync sends.
 */
class FakeFolderClient implements FolderClient {
  readonly enabled = new Set<string>();
  constructor(
    public uids: number[],
    public unread: number[],
  ) {}
  async search(query: SearchObject): Promise<number[]> {
    if (query.seen === false) return this.unread;
    const from = typeof query.uid === 'string' ? Number(query.uid.split(':')[0]) : 1;
    return this.uids.filter((uid) => uid >= from);
  }
  readonly fetchAll = async (range: string | number[] | object): Promise<FetchMessageObject[]> => {
    const wanted = new Set(String(range).split(',').flatMap((part) => {
      const [a, b = a] = part.split(':').map(Number);
      return Array.from({ length: b - a + 1 }, (_, i) => a + i);
    }));
    return this.uids.filter((uid) => wanted.has(uid)).map((uid, i) => ({ seq: i + 1, uid, flags: new Set(this.unread.includes(uid) ? [] : ['\\Seen']) }));
  };
}

describe('FolderSync.resync without CONDSTORE', () => {
  const examined = (client: FakeFolderClient): MailboxObject => ({ path: 'Reports', delimiter: '/', flags: new Set(), uidValidity: 7n, uidNext: 6, exists: client.uids.length });
  /** Saved by the last visit: UIDs 1-5, 3 and 5 unread. */
  const saved: MailboxCursor = { uidValidity: 7, uidNext: 6, knownUids: '1:5', unseenUids: '3,5' };

  it('reports what was read and what was expunged since the lists it saved, and saves the new lists', async () => {
    const ctx = new FakeFolderContext();
    ctx.stored = saved;
    const client = new FakeFolderClient([1, 2, 3, 5], [5]);
    const folder = new FolderSync('Reports', owner, ctx);
    await folder.resync(client, examined(client), false);
    expect(ctx.enqueued.map((e) => e.batch.changes)).toEqual([
      [
        { kind: 'flags', uid: 3, flags: ['\\Seen'] },
        { kind: 'deleted', uid: 4 },
      ],
    ]);
    expect(ctx.stored).toEqual({ uidValidity: 7, uidNext: 6, knownUids: '1:3,5', unseenUids: '5' });
  });

  it('loses neither when a resync could not enqueue them: the next one compares with the lists as saved', async () => {
    const ctx = new FakeFolderContext();
    ctx.stored = saved;
    const client = new FakeFolderClient([1, 2, 3, 5], [5]);
    const folder = new FolderSync('Reports', owner, ctx);
    ctx.failEnqueue = true;
    await expect(folder.resync(client, examined(client), false)).rejects.toThrow('redis down');
    ctx.failEnqueue = false;
    await folder.resync(client, examined(client), false);
    expect(ctx.enqueued.map((e) => e.batch.changes)).toEqual([
      [
        { kind: 'flags', uid: 3, flags: ['\\Seen'] },
        { kind: 'deleted', uid: 4 },
      ],
    ]);
  });

  it('reports a read change the selected folder already announced once, not again from the comparison', async () => {
    const ctx = new FakeFolderContext();
    ctx.stored = { ...saved, knownUids: '1:5' };
    const client = new FakeFolderClient([1, 2, 3, 4, 5], [5]);
    const folder = new FolderSync('Reports', owner, ctx);
    await folder.resync(new FakeFolderClient([1, 2, 3, 4, 5], [3, 5]), examined(client), false);
    // Selected: IDLE reports 3 read; the session leaves before flushing, and comes back.
    folder.onFlags({ seq: 3, flags: new Set(['\\Seen']) });
    await folder.resync(client, examined(client), false);
    expect(ctx.enqueued.map((e) => e.batch.changes).filter((c) => c?.length)).toEqual([[{ kind: 'flags', uid: 3, flags: ['\\Seen'] }]]);
  });
});
