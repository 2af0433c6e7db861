import { MAX_GUESSED_UIDS, advanceUidNext, assignedUids, fromSequenceSet, futureGuesses, guessNewUids, maxModseq, movedUids, newUidsFrom, planResync, toSequenceSet, vanishedUids } from './uid-math';

describe('newUidsFrom', () => {
  it('drops the last message a server returns for N:* when its UID is below N', () => {
    expect(newUidsFrom([7], 10)).toEqual([]);
  });
  it('keeps UIDs at and above the cursor, sorted and unique', () => {
    expect(newUidsFrom([12, 10, 9, 12, 11], 10)).toEqual([10, 11, 12]);
  });
});

describe('planResync', () => {
  const selected = { uidValidity: 5, uidNext: 20, highestModseq: '100' };
  it('baselines a mailbox seen for the first time', () => {
    expect(planResync(null, selected, true)).toEqual({ kind: 'baseline' });
  });
  it('resets on a changed UIDVALIDITY', () => {
    expect(planResync({ uidValidity: 4, uidNext: 3 }, selected, true)).toEqual({ kind: 'reset', previousUidValidity: 4 });
  });
  it('catches up from the cursor, asking for flag changes only when the modseq moved', () => {
    expect(planResync({ uidValidity: 5, uidNext: 15, highestModseq: '90' }, selected, true)).toEqual({ kind: 'incremental', fromUid: 15, changedSince: '90' });
    expect(planResync({ uidValidity: 5, uidNext: 15, highestModseq: '100' }, selected, true)).toEqual({ kind: 'incremental', fromUid: 15 });
    expect(planResync({ uidValidity: 5, uidNext: 15, highestModseq: '90' }, selected, false)).toEqual({ kind: 'incremental', fromUid: 15 });
  });
  it('compares modseqs beyond 2^53 exactly', () => {
    const plan = planResync({ uidValidity: 5, uidNext: 1, highestModseq: '9007199254740993' }, { ...selected, highestModseq: '9007199254740994' }, true);
    expect(plan).toMatchObject({ changedSince: '9007199254740993' });
  });
});

describe('advanceUidNext', () => {
  it('moves past the highest enqueued UID and never backwards', () => {
    expect(advanceUidNext(10, [10, 11, 14])).toBe(15);
    expect(advanceUidNext(10, [])).toBe(10);
    expect(advanceUidNext(10, [3])).toBe(10);
    expect(advanceUidNext(10, [11], 20)).toBe(20);
  });
});

describe('maxModseq', () => {
  it('keeps the larger value', () => {
    expect(maxModseq(undefined, 5n)).toBe('5');
    expect(maxModseq('7', '5')).toBe('7');
    expect(maxModseq('7', undefined)).toBe('7');
  });
});

describe('sequence sets', () => {
  it('round-trips', () => {
    expect(toSequenceSet([1, 2, 3, 5, 7, 8])).toBe('1:3,5,7:8');
    expect(fromSequenceSet('1:3,5,7:8')).toEqual([1, 2, 3, 5, 7, 8]);
    expect(toSequenceSet([])).toBe('');
    expect(fromSequenceSet('')).toEqual([]);
  });
  it('finds expunged UIDs below the cursor only', () => {
    expect(vanishedUids([1, 2, 3, 4], [1, 3, 5], 5)).toEqual([2, 4]);
    expect(vanishedUids([1, 2, 9], [1], 5)).toEqual([2]);
  });
  it('finds UIDs whose \\Seen flipped between two UNSEEN lists, below the cursor and still present', () => {
    // 2 read, 4 unread again; 9 is not announced yet; 6 is gone (its expunge is its own change).
    expect(movedUids([1, 2, 3, 6], [1, 3, 4, 9], 8)).toEqual([2, 4, 6]);
    expect(movedUids([1, 2, 3, 6], [1, 3, 4, 9], 8, [1, 2, 3, 4, 5, 9])).toEqual([2, 4]);
    expect(movedUids([], [], 8)).toEqual([]);
  });
});

describe('guessing new UIDs from an EXISTS count', () => {
  it('guesses consecutive UIDs from the floor, capped', () => {
    expect(guessNewUids(10, 3)).toEqual([10, 11, 12]);
    expect(guessNewUids(10, 0)).toEqual([]);
    expect(guessNewUids(10, -2)).toEqual([]);
    expect(guessNewUids(1, 1000)).toHaveLength(MAX_GUESSED_UIDS);
  });

  it('flags only unconfirmed guesses above everything found as possibly future UIDs', () => {
    // found 12 and 13: guess 11 (gone already) is below UIDNEXT and harmless; 14 may be future.
    expect(futureGuesses([11, 12, 13, 14], [12, 13], 11)).toEqual([14]);
    expect(futureGuesses([11, 12], [11, 12], 11)).toEqual([]);
    // Nothing found: every guess at or above the cursor is unaccounted for.
    expect(futureGuesses([11, 12], [], 11)).toEqual([11, 12]);
  });
});

describe('UIDs a STATUS of an unselected folder shows assigned', () => {
  const cursor = { uidValidity: 7, uidNext: 10 };
  it('names every UID from the cursor up to UIDNEXT, without UIDVALIDITY in the STATUS (NOTIFY sends none on new mail)', () => {
    expect(assignedUids(cursor, 7, { uidNext: 12 }, 0)).toEqual([10, 11]);
    expect(assignedUids(cursor, 7, { uidNext: 12, uidValidity: 7 }, 0)).toEqual([10, 11]);
  });
  it('starts after what was announced already, and names nothing when UIDNEXT did not move past it', () => {
    expect(assignedUids(cursor, 7, { uidNext: 13 }, 12)).toEqual([12]);
    expect(assignedUids(cursor, 7, { uidNext: 12 }, 12)).toEqual([]);
    expect(assignedUids(cursor, 7, { uidNext: 10 }, 0)).toEqual([]);
    expect(assignedUids(cursor, 7, { uidNext: 8 }, 0)).toEqual([]);
    expect(assignedUids(cursor, 7, {}, 0)).toEqual([]);
  });
  it('names nothing in another UID space, or before the folder was examined', () => {
    expect(assignedUids(cursor, 7, { uidNext: 12, uidValidity: 8 }, 0)).toEqual([]);
    expect(assignedUids(cursor, 8, { uidNext: 12 }, 0)).toEqual([]);
    expect(assignedUids(undefined, 7, { uidNext: 12 }, 0)).toEqual([]);
    expect(assignedUids({ uidValidity: 0, uidNext: 1 }, 0, { uidNext: 12 }, 0)).toEqual([]);
  });
  it('is capped like EXISTS guesses: a bigger jump is left to the visit', () => {
    expect(assignedUids(cursor, 7, { uidNext: 10_000 }, 0)).toEqual(Array.from({ length: MAX_GUESSED_UIDS }, (_, i) => 10 + i));
  });
});
