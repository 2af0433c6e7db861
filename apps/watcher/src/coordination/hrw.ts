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

/**
 * Whether `me` should own `key`. The rendezvous winner owns it; but a winner at capacity keeps
 * what it holds and takes nothing new, so its overflow goes to the best member that is not full.
 */
export function isAssignedTo(key: string, me: string, members: readonly string[], full: ReadonlySet<string>): boolean {
  const winner = hrwWinner(key, members);
  if (winner === me) return true;
  if (!winner || !full.has(winner) || full.has(me)) return false;
  return hrwWinner(
    key,
    members.filter((m) => !full.has(m)),
  ) === me;
}
