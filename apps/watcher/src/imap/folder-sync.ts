import { Logger } from '@nestjs/common';
import type { ImapFlow, MailboxObject, MessageRangeOptions, SearchObject } from 'imapflow';
import { MailboxChange, MailboxRef, MailboxSyncService } from '../sync/mailbox-sync.service';
import { MailboxCursor } from '@pushmail/mailbox-cursors';
import { advanceUidNext, assignedUids, fromSequenceSet, futureGuesses, guessNewUids, maxModseq, movedUids, newUidsFrom, planResync, toSequenceSet, vanishedUids } from '../sync/uid-math';
import { WatcherMetrics } from '../watcher.metrics';

/** What a STATUS (a sweep's, or one NOTIFY sent) says about a folder; compared to tell a change. */
export interface FolderStatus {
  messages?: number;
  uidNext?: number;
  uidValidity?: number;
  highestModseq?: string;
  /** Asked for only without CONDSTORE: a \Seen change moves it when nothing else does. */
  unseen?: number;
}

/**
 * What a folder's resync asks of its IMAP connection (narrow, so a spec can hand it a typed fake;
 * an ImapFlow is one). `search` is the one form of imapflow's overloads a resync sends (a plain UID
 * list, no ESEARCH RETURN), so a fake implements one signature instead of casting to all three.
 */
export interface FolderClient extends Pick<ImapFlow, 'fetchAll' | 'enabled'> {
  search(query: SearchObject, options?: MessageRangeOptions): Promise<number[] | false | undefined>;
}

/** What a folder uses of the process-wide session context (narrow, so a spec can hand it a typed fake). */
export interface FolderSyncContext {
  sync: Pick<MailboxSyncService, 'enqueue' | 'withdraw' | 'getCursor' | 'saveCursor'>;
  metrics: Pick<WatcherMetrics, 'existsToEnqueue' | 'uidGuesses'>;
  logger: Pick<Logger, 'log' | 'debug'>;
}

/**
 * What every folder of one session shares: one object per session, not a ref and a closure per
 * folder (an account watching "*" holds a {@link FolderSync} for each of its folders).
 */
export interface FolderOwner {
  readonly accountId: string;
  /** The lease value cursor writes are fenced with. */
  readonly leaseValue: string;
  /** False once the session is stopped: a delayed withdrawal must then leave guessed jobs alone. */
  live(): boolean;
}

export interface ExistsEvent {
  count: number;
  prevCount: number;
}
export interface ExpungeEvent {
  seq?: number;
  uid?: number;
  vanished?: boolean;
}
export interface FlagsEvent {
  seq?: number;
  uid?: number;
  modseq?: bigint;
  flags?: Set<string>;
}

function errorText(err: unknown): string {
  const e = err as { responseText?: string; code?: string; message?: string };
  return String(e?.responseText || e?.message || e?.code || err).slice(0, 300);
}

/** True when a STATUS differs from the one seen before in a way a resync would act on. */
export function statusChanged(before: FolderStatus | undefined, after: FolderStatus): boolean {
  if (!before) return true;
  return (
    (after.uidValidity !== undefined && after.uidValidity !== before.uidValidity) ||
    (after.uidNext !== undefined && after.uidNext !== before.uidNext) ||
    (after.messages !== undefined && after.messages !== before.messages) ||
    (after.highestModseq !== undefined && after.highestModseq !== before.highestModseq) ||
    (after.unseen !== undefined && after.unseen !== before.unseen)
  );
}

/**
 * `unseen` (sorted UIDs without \Seen) with the read changes a selected folder reported (UID →
 * unseen now) applied; undefined when they change nothing.
 */
function withUnseenEdits(unseen: readonly number[], edits: ReadonlyMap<number, boolean> | undefined): number[] | undefined {
  if (!edits) return undefined;
  const set = new Set(unseen);
  let moved = false;
  for (const [uid, isUnseen] of edits) {
    if (isUnseen === set.has(uid)) continue;
    if (isUnseen) set.add(uid);
    else set.delete(uid);
    moved = true;
  }
  return moved ? [...set].sort((a, b) => a - b) : undefined;
}

/**
 * The lossless per-folder state of an account's one watching connection: UIDVALIDITY, the cursor
 * in Redis, the sequence-number map (servers without QRESYNC), UID guesses from EXISTS and the
 * pending flag and expunge changes. Split from the connection so one IMAP connection can watch many
 * folders, examining each in turn; its methods run only while this folder is the selected one.
 */
export class FolderSync {
  uidValidity = 0;
  cursor?: MailboxCursor;
  condstore = false;
  /** Sequence number → UID, only for servers without QRESYNC, whose EXPUNGE carries no UID. */
  seqUids?: number[];
  /**
   * The UIDs last known without \Seen, sorted; kept only for a folder without CONDSTORE, where no
   * MODSEQ says which flags changed while the folder was not selected (another folder's visit, a
   * restart, a failover). A resync compares it with UID SEARCH UNSEEN and fetches the flags of the
   * UIDs that moved, so read and unread state, the flag clients show as unread counts, reaches them
   * on such servers too (Microsoft 365 and Yahoo advertise no CONDSTORE). Other flags have no count a
   * STATUS could show and stay unseen there; a set per flag would cost a SEARCH per flag and visit.
   */
  unseen?: number[];
  /** \Seen as the selected folder's FETCH responses reported it since (UID → unseen now), for {@link unseen}. */
  private unseenEdits?: Map<number, boolean>;
  /** When the EXISTS that asked for the next search arrived. */
  seenAt = 0;
  /**
   * UIDs announced from EXISTS counts and not yet confirmed by a UID SEARCH (see
   * {@link guessNewUids}), each with whether its job is known to be in Redis.
   */
  private guessed?: Map<number, boolean>;
  /** The end of the UIDs whose jobs were enqueued ahead of a search (EXISTS guesses, or a STATUS). */
  private announcedUpTo = 0;
  /**
   * UIDs (of that UIDVALIDITY, at or above the cursor) whose STATUS announcement's jobs Redis
   * confirmed: the visit need not enqueue them again, and a rename's cursor may pass them. A set,
   * not a high-water mark: after a failed announcement and a good one, the UIDs of the first are
   * not in Redis although higher ones are.
   */
  private queuedFromStatus?: { uidValidity: number; uids: Set<number> };
  /** Every UID below this is known to be assigned on the server (from this folder's searches). */
  private existingBelow = 0;
  changes: MailboxChange[] = [];
  /** The last STATUS seen for this folder while it was not selected (or the state its resync saw). */
  status?: FolderStatus;
  /** The server answered NO to EXAMINE (deleted meanwhile): skipped until a listing shows it again. */
  missing = false;
  /**
   * Created while the account was watched, and not synced yet: without a cursor of its own (none,
   * or one left by a deleted folder of the same name) it is synced from UID 1, not baselined at
   * UIDNEXT, so mail that landed in it before it was noticed is announced too.
   */
  fromStart = false;

  constructor(
    readonly mailbox: string,
    private readonly owner: FolderOwner,
    private readonly ctx: FolderSyncContext,
  ) {}

  /** Made when needed: the few calls that take one do not justify an object per folder at rest. */
  get ref(): MailboxRef {
    return { accountId: this.owner.accountId, mailbox: this.mailbox, leaseValue: this.owner.leaseValue };
  }

  /** Forgets the guesses of a connection that is gone (the next resync searches anyway). */
  resetGuesses(): void {
    this.guessed = undefined;
    this.announcedUpTo = 0;
  }

  onExpunge(event: ExpungeEvent): boolean {
    let uid = event.uid;
    if (!uid && event.seq && this.seqUids) {
      uid = this.seqUids[event.seq - 1];
      this.seqUids.splice(event.seq - 1, 1);
    } else if (uid && this.seqUids) {
      const i = this.seqUids.indexOf(uid);
      if (i >= 0) this.seqUids.splice(i, 1);
    }
    if (!uid) return false;
    this.changes.push({ kind: 'deleted', uid });
    return true;
  }

  onFlags(event: FlagsEvent): boolean {
    const uid = event.uid ?? (event.seq && this.seqUids ? this.seqUids[event.seq - 1] : undefined);
    if (!uid) return false;
    const change: MailboxChange = { kind: 'flags', uid, flags: [...(event.flags ?? [])] };
    if (event.modseq !== undefined) change.modseq = event.modseq.toString();
    this.changes.push(change);
    // Its flags job goes out with this change: the next resync must not find it again.
    if (this.unseen && event.flags) (this.unseenEdits ??= new Map()).set(uid, !event.flags.has('\\Seen'));
    return true;
  }

  /**
   * Enqueues fetch jobs for the UIDs an EXISTS count implies, before leaving IDLE for the UID
   * SEARCH: the search's two round trips are what EXISTS → job would otherwise wait for. The
   * search still runs, confirms, and alone advances the cursor. Answers whether jobs went out (the
   * search may then wait: see ImapSession.requestAfterSettle).
   */
  announceGuesses(event: ExistsEvent): boolean {
    if (!this.cursor || !(event.count > event.prevCount)) return false;
    const uids = guessNewUids(Math.max(this.cursor.uidNext, this.announcedUpTo), event.count - event.prevCount);
    if (!uids.length) return false;
    this.announcedUpTo = uids[uids.length - 1] + 1;
    this.guessed ??= new Map();
    for (const uid of uids) this.guessed.set(uid, false);
    const seenAt = this.seenAt || Date.now();
    const guessed = this.guessed;
    this.ctx.sync.enqueue(this.ref, this.uidValidity, { newUids: uids, seenAt }).then(
      () => {
        this.ctx.metrics.existsToEnqueue.observe(Date.now() - seenAt);
        for (const uid of uids) guessed.set(uid, true);
      },
      // The UID SEARCH that follows enqueues the same jobs; only the head start is lost.
      (err) => this.ctx.logger.debug({ msg: 'early enqueue failed; the UID SEARCH will enqueue', accountId: this.owner.accountId, err: errorText(err) }),
    );
    return true;
  }

  /**
   * Enqueues fetch jobs for the UIDs a STATUS of this folder (not selected: a NOTIFY report, or a
   * sweep's) shows assigned above the cursor (see {@link assignedUids}), before the session leaves
   * IDLE to examine and search the folder: EXAMINE, the cursor read and the UID SEARCH are what the
   * mail would otherwise wait for. The visit still follows (flags, expunges, the cursor); its enqueue
   * of the same UIDs is a no-op by job id. Nothing here touches the cursor, so the lease fencing and
   * "enqueue before the cursor moves" are as before; a failed early enqueue only loses the head start.
   * Answers whether jobs went out (none for a STATUS that shows a flag change, an expunge or nothing new: its visit does not wait).
   */
  announceAssigned(status: FolderStatus, seenAt: number): boolean {
    const uids = assignedUids(this.cursor, this.uidValidity, status, this.announcedUpTo);
    if (!uids.length) return false;
    this.announcedUpTo = uids[uids.length - 1] + 1;
    // Every UID below UIDNEXT is given out: a pending withdrawal of an old guess must leave these jobs.
    this.noteAssigned(status.uidNext!, []);
    const uidValidity = this.uidValidity;
    this.ctx.sync.enqueue(this.ref, uidValidity, { newUids: uids, seenAt }).then(
      () => {
        this.ctx.metrics.existsToEnqueue.observe(Date.now() - seenAt);
        if (this.queuedFromStatus?.uidValidity !== uidValidity) this.queuedFromStatus = { uidValidity, uids: new Set() };
        for (const uid of uids) this.queuedFromStatus.uids.add(uid);
      },
      (err) => this.ctx.logger.debug({ msg: 'early enqueue from STATUS failed; the visit will enqueue', accountId: this.owner.accountId, mailbox: this.mailbox, err: errorText(err) }),
    );
    return true;
  }

  /**
   * The cursor a rename carries to the folder's new name. It is moved past the UIDs whose jobs a
   * STATUS announcement put in Redis, for the visit that would have moved it there may not have
   * run yet (it waits RESYNC_SETTLE_MS) and can no longer run under the old name: the new name must
   * not announce that mail again. The same holds as "enqueue before the cursor moves": it passes
   * only the unbroken run of confirmed UIDs from the cursor on.
   */
  cursorToCarry(): MailboxCursor | undefined {
    const cursor = this.cursor;
    const queued = this.queuedFromStatus;
    if (!cursor || !queued || queued.uidValidity !== cursor.uidValidity) return cursor;
    let uidNext = cursor.uidNext;
    while (queued.uids.has(uidNext)) uidNext++;
    return uidNext === cursor.uidNext ? cursor : { ...cursor, uidNext };
  }

  /** UID SEARCH above the cursor → fetch jobs → cursor. */
  async syncNewMail(client: FolderClient): Promise<void> {
    const seenAt = this.seenAt || Date.now();
    this.seenAt = 0;
    const cursor = this.cursor!;
    // Only guesses made before the search can be judged by it; later ones wait for the next search.
    const guessed = this.guessed;
    this.guessed = undefined;
    const found = await client.search({ uid: `${cursor.uidNext}:*` }, { uid: true });
    const uids = newUidsFrom(found || [], cursor.uidNext);
    this.noteAssigned(cursor.uidNext, uids);
    if (guessed) {
      const future = futureGuesses(guessed.keys(), uids, cursor.uidNext);
      const confirmed = uids.filter((uid) => guessed.has(uid)).length;
      const { uidGuesses } = this.ctx.metrics;
      uidGuesses.inc({ outcome: 'confirmed' }, confirmed);
      uidGuesses.inc({ outcome: 'gone' }, guessed.size - confirmed - future.length);
      uidGuesses.inc({ outcome: 'withdrawn' }, future.length);
      if (future.length) void this.ctx.sync.withdraw(this.ref, this.uidValidity, future, (uid) => this.owner.live() && uid >= this.existingBelow);
    }
    if (!uids.length) return;
    if (this.seqUids) this.seqUids.push(...uids.filter((u) => u > (this.seqUids![this.seqUids!.length - 1] ?? 0)));
    // Taken as unread: the fetch job reads the real flags. One that came in read (rare in the folder
    // a session sits in) gets a flags job, with its real flags, at the next resync; taking it as read
    // instead would lose the change when it is read while the session visits another folder.
    if (this.unseen) this.unseen.push(...uids.filter((u) => u > (this.unseen![this.unseen!.length - 1] ?? 0)));
    // The cursor must never pass a UID whose job is not known to be in Redis: guesses whose early
    // enqueue has not (yet) succeeded are enqueued again, a no-op by job id if it lands after all.
    const unqueued = uids.filter((uid) => guessed?.get(uid) !== true);
    if (unqueued.length) await this.ctx.sync.enqueue(this.ref, this.uidValidity, { newUids: unqueued, seenAt });
    if (uids.some((uid) => !guessed?.has(uid))) this.ctx.metrics.existsToEnqueue.observe(Date.now() - seenAt);
    await this.saveCursor({ ...this.cursor!, uidNext: advanceUidNext(this.cursor!.uidNext, uids) });
  }

  async flushChanges(): Promise<void> {
    const batch = this.changes;
    this.changes = [];
    // Folded only once their jobs are in Redis: after a failed enqueue the next resync finds them again.
    const edits = this.unseenEdits;
    this.unseenEdits = undefined;
    // Changes to messages not yet announced are left to their fetch job, which reads current flags.
    const below = this.cursor!.uidNext;
    const relevant = batch.filter((c) => c.uid < below);
    let modseq = this.cursor!.highestModseq;
    for (const c of relevant) if (c.kind === 'flags' && this.condstore) modseq = maxModseq(modseq, c.modseq);
    if (relevant.length) await this.ctx.sync.enqueue(this.ref, this.uidValidity, { changes: relevant });
    const expunged = relevant.some((c) => c.kind === 'deleted');
    const unseenMoved = this.unseen ? withUnseenEdits(this.unseen, edits) : undefined;
    if (unseenMoved) this.unseen = unseenMoved;
    if (modseq !== this.cursor!.highestModseq || (expunged && this.seqUids) || unseenMoved) await this.saveCursor({ ...this.cursor!, ...(modseq ? { highestModseq: modseq } : {}) });
  }


  /**
   * Records, before anything awaits, that every UID below `from` and up to the highest of `found`
   * is assigned on the server: a pending withdrawal of a guessed job must no longer remove those.
   */
  private noteAssigned(from: number, found: readonly number[]): void {
    let below = Math.max(this.existingBelow, from);
    for (const uid of found) if (uid + 1 > below) below = uid + 1;
    this.existingBelow = below;
  }

  private async saveCursor(cursor: MailboxCursor): Promise<void> {
    if (this.seqUids) cursor.knownUids = toSequenceSet(this.seqUids);
    else delete cursor.knownUids;
    if (this.unseen) cursor.unseenUids = toSequenceSet(this.unseen);
    else delete cursor.unseenUids;
    await this.ctx.sync.saveCursor(this.ref, cursor);
    this.cursor = cursor;
    // Below the cursor the confirmations have served their purpose.
    const queued = this.queuedFromStatus;
    if (queued && queued.uidValidity !== cursor.uidValidity) this.queuedFromStatus = undefined;
    else if (queued) for (const uid of queued.uids) if (uid < cursor.uidNext) queued.uids.delete(uid);
    // From now on its cursor says where it is: a later UIDVALIDITY change is a reset like any other.
    this.fromStart = false;
  }

  /**
   * Catches up each time the folder is examined (connect, or a change NOTIFY or a sweep reported);
   * see {@link planResync}. `client` has just opened this folder read-only as `mailbox`.
   */
  async resync(client: FolderClient, mailbox: MailboxObject, qresync: boolean): Promise<void> {
    this.condstore = client.enabled.has('CONDSTORE') && !mailbox.noModseq && mailbox.highestModseq !== undefined;
    const uidValidity = Number(mailbox.uidValidity);
    const selected = { uidValidity, uidNext: mailbox.uidNext, highestModseq: mailbox.highestModseq?.toString() };
    // What this examine saw, so the next STATUS is compared with it (anything newer is resynced again).
    this.status = { messages: mailbox.exists, uidNext: mailbox.uidNext, uidValidity, ...(selected.highestModseq ? { highestModseq: selected.highestModseq } : {}) };
    this.missing = false;
    let stored = await this.ctx.sync.getCursor(this.ref);
    if (this.fromStart && stored && stored.uidValidity !== uidValidity) {
      // A folder of this name was deleted before this one was created: that generation is reset,
      // and this one, created while watched, is synced from UID 1 like any other. Baselining it
      // (a plain reset) lost the push of mail filed into it before the session's first visit.
      await this.ctx.sync.enqueue(this.ref, uidValidity, { reset: { previousUidValidity: stored.uidValidity } });
      stored = null;
    }
    stored ??= this.fromStart ? { uidValidity, uidNext: 1 } : null;
    const plan = planResync(stored, selected, this.condstore);
    // The lists as last saved, i.e. as the jobs already in Redis left them: this session's own copies
    // run ahead of them when a resync failed after its searches (a Redis outage), and comparing with
    // those would lose the expunges and read changes that resync found and could not enqueue. Every
    // resync of a server without QRESYNC saves its list, so there is always one to read.
    const previousUids = fromSequenceSet(stored?.knownUids);
    // With the read changes still pending folded in: their jobs go out with this resync's.
    const pendingEdits = this.unseenEdits;
    this.unseenEdits = undefined;
    const savedUnseen = stored?.unseenUids !== undefined ? fromSequenceSet(stored.unseenUids) : undefined;
    const previousUnseen = savedUnseen && (withUnseenEdits(savedUnseen, pendingEdits) ?? savedUnseen);
    if (this.uidValidity !== uidValidity) this.existingBelow = 0; // another UID space
    this.uidValidity = uidValidity;
    const present = qresync ? undefined : ((await client.search({ all: true }, { uid: true })) || []).sort((a, b) => a - b);
    this.seqUids = present;
    const unseenNow = this.condstore ? undefined : ((await client.search({ seen: false }, { uid: true })) || []).sort((a, b) => a - b);
    if (unseenNow) this.status.unseen = unseenNow.length;
    const modseq = this.condstore ? selected.highestModseq : undefined;

    if (plan.kind !== 'incremental') {
      // Events from before the baseline describe mail we never announced.
      this.changes = [];
      if (plan.kind === 'reset') {
        await this.ctx.sync.enqueue(this.ref, uidValidity, { reset: { previousUidValidity: plan.previousUidValidity } });
      }
      this.ctx.logger.log({ msg: `mailbox ${plan.kind}`, accountId: this.owner.accountId, mailbox: this.mailbox, uidValidity, uidNext: mailbox.uidNext });
      this.unseen = unseenNow;
      await this.saveCursor({ uidValidity, uidNext: mailbox.uidNext, ...(modseq ? { highestModseq: modseq } : {}) });
      return;
    }

    const seenAt = Date.now();
    this.seenAt = 0;
    const from = plan.fromUid;
    const newUids = newUidsFrom((await client.search({ uid: `${from}:*` }, { uid: true })) || [], from);
    this.noteAssigned(from, newUids);
    if (this.seqUids) this.seqUids = [...new Set([...this.seqUids, ...newUids])].sort((a, b) => a - b);
    if (plan.changedSince && from > 1) {
      // With QRESYNC enabled imapflow adds VANISHED, so expunges since then arrive as events.
      const rows = await client.fetchAll(`1:${from - 1}`, { uid: true, flags: true }, { uid: true, changedSince: BigInt(plan.changedSince) });
      for (const row of rows) {
        if (row.uid < from) this.changes.push({ kind: 'flags', uid: row.uid, flags: [...(row.flags ?? [])], ...(row.modseq ? { modseq: row.modseq.toString() } : {}) });
      }
    }
    if (unseenNow && previousUnseen) {
      // Read or unread since the baseline (see `unseen`): their flags, as the server has them now.
      const moved = movedUids(previousUnseen, unseenNow, from, present);
      if (moved.length) {
        const rows = await client.fetchAll(toSequenceSet(moved), { uid: true, flags: true }, { uid: true });
        for (const row of rows) if (row.uid < from) this.changes.push({ kind: 'flags', uid: row.uid, flags: [...(row.flags ?? [])] });
      }
    }
    if (present) for (const uid of vanishedUids(previousUids, present, from)) this.changes.push({ kind: 'deleted', uid });
    const changes = this.changes.filter((c) => c.uid < from);
    this.changes = [];
    // Jobs a STATUS announcement already put in Redis are not added again (a no-op by job id, but
    // one Redis script each). Not observed in the EXISTS→enqueue histogram: a catch-up is not a push.
    const queued = this.queuedFromStatus?.uidValidity === uidValidity ? this.queuedFromStatus.uids : undefined;
    await this.ctx.sync.enqueue(this.ref, uidValidity, { newUids: queued ? newUids.filter((uid) => !queued.has(uid)) : newUids, seenAt, changes });
    this.unseen = unseenNow;
    await this.saveCursor({
      uidValidity,
      uidNext: advanceUidNext(from, newUids, mailbox.uidNext),
      ...(this.condstore ? { highestModseq: maxModseq(stored!.highestModseq, modseq) } : {}),
    });
  }
}
