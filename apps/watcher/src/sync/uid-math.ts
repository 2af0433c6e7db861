import { MailboxCursor } from '@pushmail/mailbox-cursors';

/** What the server reported on SELECT. */
export interface SelectedMailbox {
  uidValidity: number;
  uidNext: number;
  highestModseq?: string;
}

export type ResyncPlan =
  | { kind: 'baseline' }
  | { kind: 'reset'; previousUidValidity: number }
  | { kind: 'incremental'; fromUid: number; changedSince?: string };

/**
 * Decides how to catch up after a (re)connect. A mailbox seen for the first time is baselined
 * at uidNext (existing mail is not replayed); a changed UIDVALIDITY invalidates every UID we knew.
 */
export function planResync(cursor: MailboxCursor | null, selected: SelectedMailbox, condstore: boolean): ResyncPlan {
  if (!cursor) return { kind: 'baseline' };
  if (cursor.uidValidity !== selected.uidValidity) return { kind: 'reset', previousUidValidity: cursor.uidValidity };
  const changedSince =
    condstore && cursor.highestModseq && selected.highestModseq && BigInt(selected.highestModseq) > BigInt(cursor.highestModseq)
      ? cursor.highestModseq
      : undefined;
  return { kind: 'incremental', fromUid: cursor.uidNext, ...(changedSince ? { changedSince } : {}) };
}

/**
 * The new UIDs in an answer to `UID SEARCH UID <from>:*`. A server answers "N:*" with the last
 * message even when its UID is below N (RFC 3501 6.4.8: "*" is the largest UID in use), so the
 * answer is filtered, deduplicated and sorted.
 */
export function newUidsFrom(uids: Iterable<number>, fromUid: number): number[] {
  return [...new Set([...uids].filter((uid) => Number.isInteger(uid) && uid >= fromUid))].sort((a, b) => a - b);
}

/** uidNext after enqueueing `uids`: never moves backwards, never skips past what the server reported. */
export function advanceUidNext(current: number, uids: readonly number[], serverUidNext?: number): number {
  let next = current;
  for (const uid of uids) if (uid + 1 > next) next = uid + 1;
  if (serverUidNext !== undefined && serverUidNext > next) next = serverUidNext;
  return next;
}

export function maxModseq(a: string | undefined, b: string | bigint | undefined): string | undefined {
  if (b === undefined || b === null) return a;
  const bs = b.toString();
  if (a === undefined) return bs;
  return BigInt(bs) > BigInt(a) ? bs : a;
}

/** A sorted UID list as a compact IMAP sequence set: [1,2,3,5] → "1:3,5". */
export function toSequenceSet(sortedUids: readonly number[]): string {
  const parts: string[] = [];
  let start = -1;
  let prev = -1;
  for (const uid of sortedUids) {
    if (start === -1) {
      start = prev = uid;
    } else if (uid === prev + 1) {
      prev = uid;
    } else {
      parts.push(start === prev ? `${start}` : `${start}:${prev}`);
      start = prev = uid;
    }
  }
  if (start !== -1) parts.push(start === prev ? `${start}` : `${start}:${prev}`);
  return parts.join(',');
}

export function fromSequenceSet(set: string | undefined): number[] {
  if (!set) return [];
  const out: number[] = [];
  for (const part of set.split(',')) {
    const [a, b] = part.split(':').map(Number);
    if (!Number.isInteger(a)) continue;
    const end = Number.isInteger(b) ? b : a;
    for (let uid = Math.min(a, end); uid <= Math.max(a, end); uid++) out.push(uid);
  }
  return out;
}

/** UIDs that were known (and below the cursor) but are gone from the server's list. */
export function vanishedUids(known: readonly number[], present: readonly number[], belowUid: number): number[] {
  const now = new Set(present);
  return known.filter((uid) => uid < belowUid && !now.has(uid));
}

/**
 * UIDs below `belowUid`, and still `present` where that list is known, that are in one of two
 * lists and not the other: the messages whose \Seen flipped between two UID SEARCH UNSEEN.
 */
export function movedUids(before: readonly number[], now: readonly number[], belowUid: number, present?: readonly number[]): number[] {
  const was = new Set(before);
  const is = new Set(now);
  const there = present ? new Set(present) : undefined;
  const keep = (uid: number) => uid < belowUid && (!there || there.has(uid));
  const out = [...before.filter((uid) => !is.has(uid) && keep(uid)), ...now.filter((uid) => !was.has(uid) && keep(uid))];
  return out.sort((a, b) => a - b);
}

/** Most UIDs guessed from one EXISTS; a bigger jump is left to the UID SEARCH that follows. */
export const MAX_GUESSED_UIDS = 50;

/**
 * The UIDs of `added` new messages, guessed from an EXISTS count alone so their jobs can be
 * enqueued before the UID SEARCH round trips. UIDs only grow and every new message's UID is at
 * least `floor` (the cursor, or the end of earlier guesses), so each guess is a lower bound of a
 * real UID: a wrong one names a message that is already gone, which the fetcher drops. It can only
 * name a future UID if the server's counts are wrong; {@link futureGuesses} detects that.
 */
export function guessNewUids(floor: number, added: number): number[] {
  const count = Math.max(0, Math.min(MAX_GUESSED_UIDS, Math.floor(added)));
  return Array.from({ length: count }, (_, i) => floor + i);
}

/**
 * Guesses the UID SEARCH did not confirm and that lie above every UID it found: they may not have
 * been assigned yet, so their jobs must not stay queued (a later real message with that UID would
 * be deduplicated against a job that already gave up on it).
 */
export function futureGuesses(guessed: Iterable<number>, found: readonly number[], cursorUidNext: number): number[] {
  const confirmed = new Set(found);
  let highest = cursorUidNext - 1;
  for (const uid of found) if (uid > highest) highest = uid;
  return [...guessed].filter((uid) => !confirmed.has(uid) && uid > highest).sort((a, b) => a - b);
}

/**
 * The UIDs a STATUS of a folder that is not selected shows assigned since `floor` (the cursor, or
 * the end of what was announced before), so their fetch jobs can be enqueued before the folder is
 * examined and searched (that visit still runs, finds the same UIDs, whose jobs it adds again as a
 * no-op by job id, and alone advances the cursor). Unlike an EXISTS guess these never name a future
 * message: UIDNEXT only grows, and every UID below it has been given out. One given out and expunged
 * since (or skipped: UIDs need not be consecutive) is a job the fetcher drops as expunged, because it
 * lies below UIDNEXT. Empty when the STATUS may be of another UID space (its UIDVALIDITY, when it
 * has one, or the cursor's differs from the one last examined) or shows nothing new; capped like
 * EXISTS guesses, a bigger jump being left to the visit.
 */
export function assignedUids(cursor: Pick<MailboxCursor, 'uidValidity' | 'uidNext'> | undefined, uidValidity: number, status: { uidNext?: number; uidValidity?: number }, floor: number): number[] {
  if (!cursor || !uidValidity || cursor.uidValidity !== uidValidity) return [];
  if (status.uidNext === undefined || (status.uidValidity !== undefined && status.uidValidity !== uidValidity)) return [];
  const from = Math.max(cursor.uidNext, floor);
  const count = Math.max(0, Math.min(MAX_GUESSED_UIDS, status.uidNext - from));
  return Array.from({ length: count }, (_, i) => from + i);
}
