import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest random weight) hashing: every watcher computes the same owner for an
 * account from the same member list, without talking to the others, and when a member joins or
 * leaves only the accounts it wins or held change hands (about 1/N of them).
 */
export function hrwScore(member: string, key: string): bigint {
  return createHash('sha256').update(member).update('\0').update(key).digest().readBigUInt64BE(0);
}

/** The member that wins `key`; ties (practically impossible) go to the smaller member id. */
export function hrwWinner(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1n;
  for (const member of members) {
    const score = hrwScore(member, key);
    if (score > bestScore || (score === bestScore && best !== undefined && member < best)) {
      best = member;
      bestScore = score;
    }
  }
  return best;
}
