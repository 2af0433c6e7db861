import { StoredAccount } from '@pushmail/accounts';
import { AccountState, AccountView, ConnectionFailureCode } from '@pushmail/contracts';
import { Lease } from './coordination/lease.manager';
import { ImapSession, SessionContext, SessionOwner, SessionState } from './imap/imap-session';
import { POP3_MAILBOX as POP3_INBOX, Pop3Context, Pop3Poller, Pop3PollerOwner } from './pop3/pop3-poller';

/**
 * The protocol seam: an IMAP session (one per account, watching all its folders) or a POP3 poller
 * (INBOX only), driven alike by the shared tick and adding up to one account state.
 */
export interface MailboxSession {
  readonly mailbox: string;
  readonly state: SessionState;
  readonly lastError?: ConnectionFailureCode;
  /** How new mail is found, once connected: `poll` where the server has no IDLE. */
  readonly delivery?: AccountView['delivery'];
  connect(): Promise<void>;
  tick(now: number): void;
  stop(): Promise<void>;
}

/** The IMAP sessions' shared context plus the POP3 pollers'. */
export type WatcherContext = SessionContext & { pop3: Pop3Context };

export interface AccountWatcherOwner {
  publishState(accountId: string, state: AccountState, error?: string, delivery?: AccountView['delivery']): void;
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
 * One owned account: its session (one IMAP connection for every watched folder, or a POP3 poller),
 * and the account state it adds up to. Only the IMAP settings are kept (SMTP credentials have no
 * business in the watcher's memory).
 */
export class AccountWatcher implements SessionOwner, Pop3PollerOwner {
  readonly id: string;
  readonly mailboxes: string[];
  readonly sessions: MailboxSession[];
  private published?: string;

  constructor(
    account: StoredAccount,
    readonly lease: Lease,
    ctx: WatcherContext,
    private readonly owner: AccountWatcherOwner,
  ) {
    this.id = account.id;
    if (account.protocol === 'pop3') {
      this.mailboxes = [POP3_INBOX];
      this.sessions = [new Pop3Poller(account.id, account.pop3, account.pollIntervalSeconds * 1000, lease.value, ctx, ctx.pop3, this)];
      return;
    }
    this.mailboxes = [...new Set(account.mailboxes)];
    // One connection whatever the number of folders: servers cap connections per user (Dovecot 10).
    this.sessions = [new ImapSession(account.id, this.mailboxes, account.imap, lease.value, ctx, this)];
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
    const delivery = state === 'connected' ? this.sessions.find((s) => s.delivery)?.delivery : undefined;
    const key = `${state}|${error ?? ''}|${delivery ?? ''}`;
    if (key === this.published) return;
    this.published = key;
    this.owner.publishState(this.id, state, error, delivery);
  }

  onLeaseLost(accountId: string): void {
    this.owner.onLeaseLost(accountId);
  }
}
