import { StoredAccount } from '@pushmail/accounts';
import { AccountState } from '@pushmail/contracts';
import { Lease } from './coordination/lease.manager';
import { ImapSession, SessionContext, SessionOwner } from './imap/imap-session';

export interface AccountWatcherOwner {
  publishState(accountId: string, state: AccountState, error?: string): void;
  onLeaseLost(accountId: string): void;
}

/** What an account's sessions add up to: the worst of them, as clients should see it. */
export function aggregateState(states: AccountState[]): AccountState {
  if (states.includes('auth_failed')) return 'auth_failed';
  if (states.includes('error')) return 'error';
  if (states.includes('disconnected')) return 'disconnected';
  if (states.includes('connecting')) return 'connecting';
  return 'connected';
}

/**
 * One owned account: a session per watched mailbox, and the account state they add up to. Only
 * the IMAP settings are kept (SMTP credentials have no business in the watcher's memory).
 */
export class AccountWatcher implements SessionOwner {
  readonly id: string;
  readonly mailboxes: string[];
  readonly sessions: ImapSession[];
  private published?: string;

  constructor(
    account: StoredAccount,
    readonly lease: Lease,
    ctx: SessionContext,
    private readonly owner: AccountWatcherOwner,
  ) {
    this.id = account.id;
    this.mailboxes = [...new Set(account.mailboxes)];
    this.sessions = this.mailboxes.map((mailbox) => new ImapSession(account.id, mailbox, account.imap, lease.value, ctx, this));
  }

  start(): void {
    for (const s of this.sessions) void s.connect();
  }

  tick(now: number): void {
    for (const s of this.sessions) s.tick(now);
  }

  async stop(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.stop()));
  }

  onSessionState(): void {
    const states = this.sessions.map((s) => s.state).filter((s): s is AccountState => s !== 'stopped');
    if (!states.length) return;
    const state = aggregateState(states);
    const error = state === 'connected' || state === 'connecting' ? undefined : this.sessions.find((s) => s.state === state)?.lastError;
    const key = `${state}|${error ?? ''}`;
    if (key === this.published) return;
    this.published = key;
    this.owner.publishState(this.id, state, error);
  }

  onLeaseLost(accountId: string): void {
    this.owner.onLeaseLost(accountId);
  }
}
