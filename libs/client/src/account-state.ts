import type { AccountState } from '@pushmail/contracts';

export interface KnownAccountState {
  state: AccountState;
  error?: string;
  /** Absent for what the client concluded itself (a refused subscription, say). */
  stateVersion?: number;
}

/**
 * Which of two reports of an account's state to show. The account view comes over HTTP and an
 * `account.state` event over the socket, so an older view can arrive after a newer event; the
 * server's per-account counter settles it. A report without a counter is the client's own
 * conclusion and always wins.
 */
export function newerAccountState(current: KnownAccountState | undefined, incoming: KnownAccountState): KnownAccountState {
  if (!current || current.stateVersion === undefined || incoming.stateVersion === undefined) return incoming;
  return incoming.stateVersion >= current.stateVersion ? incoming : current;
}
