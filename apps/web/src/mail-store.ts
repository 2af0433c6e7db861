import {
  ConnectionStatus,
  KnownAccountState,
  NewAccount,
  newerAccountState,
  PushmailClient,
  PushmailError,
  PushmailHttpApi,
} from '@pushmail/client';
import { AccountView, MessageNewEvent, MessageSendRequest, ServerEvent } from '@pushmail/contracts';

export interface MailItem extends MessageNewEvent {
  key: string;
  /** Arrived live (not replayed) in the last few seconds: highlighted in the list. */
  fresh: boolean;
}

export interface SendState {
  localId: string;
  sendId?: string;
  accountId: string;
  subject: string;
  status: 'sending' | 'sent' | 'failed';
  error?: string;
}

export interface MailboxRef {
  accountId: string;
  mailbox: string;
}

const FRESH_MS = 4000;
const LIVE_WINDOW_MS = 5 * 60_000;
export const SEEN = '\\Seen';

export const messageKey = (m: { accountId: string; mailbox: string; uid: number }) =>
  `${m.accountId}\u0000${m.mailbox}\u0000${m.uid}`;

/**
 * Everything the UI shows, kept up to date from the gateway: accounts, the messages of each
 * subscribed account (replayed from its event log, then live), connection and send states.
 * Components re-render on `subscribe`'s callback.
 */
export class MailStore {
  readonly client: PushmailClient;
  readonly api: PushmailHttpApi;
  accounts: AccountView[] = [];
  accountsError?: string;
  accountsLoaded = false;
  readonly accountStates = new Map<string, KnownAccountState>();
  readonly messages = new Map<string, MailItem>();
  readonly sends = new Map<string, SendState>();
  connection: ConnectionStatus = { state: 'connecting' };
  /** Accounts whose initial replay finished: later message.new events are live arrivals. */
  private readonly caughtUp = new Set<string>();
  private readonly pendingResults = new Map<string, Partial<SendState>>();
  private readonly listeners = new Set<() => void>();
  private readonly newMailListeners = new Set<(m: MailItem) => void>();
  private notifyQueued = false;

  constructor(
    readonly gatewayUrl: string,
    readonly token: string,
  ) {
    this.client = new PushmailClient({ url: gatewayUrl, token, socketOptions: { transports: ['websocket'] } });
    this.api = new PushmailHttpApi(gatewayUrl, token);
    this.wire();
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onNewMail(listener: (m: MailItem) => void): () => void {
    this.newMailListeners.add(listener);
    return () => this.newMailListeners.delete(listener);
  }

  async start(): Promise<void> {
    await this.loadAccounts();
    await this.client.connect();
  }

  stop(): void {
    this.client.close();
  }

  async loadAccounts(): Promise<void> {
    try {
      this.accounts = await this.api.listAccounts();
      this.accountsError = undefined;
      this.accountsLoaded = true;
      const subscribed = new Set(this.client.subscribedAccounts());
      for (const a of this.accounts) this.noteState(a.id, a);
      // One batch subscribe for all of them (one command for the gateway's rate limit), not one each.
      const fresh = this.accounts.filter((a) => !subscribed.has(a.id)).map((a) => a.id);
      if (fresh.length) void this.subscribeAccounts(fresh);
      for (const id of this.client.subscribedAccounts()) {
        if (!this.accounts.some((a) => a.id === id)) await this.dropAccount(id);
      }
    } catch (err) {
      this.accountsError = (err as Error).message;
    }
    this.changed();
  }

  async addAccount(account: NewAccount): Promise<AccountView> {
    const view = await this.api.addAccount(account);
    this.accounts = [...this.accounts.filter((a) => a.id !== view.id), view];
    this.noteState(view.id, view);
    void this.subscribeAccount(view.id);
    this.changed();
    return view;
  }

  async removeAccount(accountId: string): Promise<void> {
    await this.api.removeAccount(accountId);
    await this.dropAccount(accountId);
    this.accounts = this.accounts.filter((a) => a.id !== accountId);
    this.changed();
  }

  /** Messages, newest first; optionally of one mailbox. */
  list(filter?: MailboxRef): MailItem[] {
    const items = [...this.messages.values()].filter((m) => !filter || (m.accountId === filter.accountId && m.mailbox === filter.mailbox));
    return items.sort((a, b) => (b.receivedAt === a.receivedAt ? b.uid - a.uid : b.receivedAt < a.receivedAt ? -1 : 1));
  }

  unread(filter?: MailboxRef): number {
    let n = 0;
    for (const m of this.messages.values()) {
      if (filter && (m.accountId !== filter.accountId || m.mailbox !== filter.mailbox)) continue;
      if (!m.flags.includes(SEEN)) n++;
    }
    return n;
  }

  /** Marks a message read: shown at once, stored on the IMAP server by the gateway. */
  async markSeen(item: MailItem): Promise<void> {
    if (item.flags.includes(SEEN)) return;
    this.updateMessage(item.key, { flags: [...item.flags, SEEN] });
    try {
      await this.client.flag({ accountId: item.accountId, mailbox: item.mailbox, uid: item.uid, add: [SEEN] });
    } catch (err) {
      this.updateMessage(item.key, { flags: item.flags.filter((f) => f !== SEEN) });
      throw err;
    }
  }

  async markUnseen(item: MailItem): Promise<void> {
    this.updateMessage(item.key, { flags: item.flags.filter((f) => f !== SEEN) });
    await this.client.flag({ accountId: item.accountId, mailbox: item.mailbox, uid: item.uid, remove: [SEEN] });
  }

  /** Queues a message; its state follows `message.sent` / `message.send_failed`. */
  async send(req: Omit<MessageSendRequest, 'idempotencyKey'>, localId: string): Promise<SendState> {
    const state: SendState = { localId, accountId: req.accountId, subject: req.subject, status: 'sending' };
    this.sends.set(localId, state);
    this.changed();
    try {
      // One key per compose attempt: a retried emit after a timeout cannot send twice.
      const { sendId } = await this.client.send({ ...req, idempotencyKey: localId });
      const early = this.pendingResults.get(sendId);
      this.pendingResults.delete(sendId);
      this.sends.set(localId, { ...state, sendId, ...early });
    } catch (err) {
      this.sends.set(localId, { ...state, status: 'failed', error: describeError(err) });
    }
    this.changed();
    return this.sends.get(localId)!;
  }

  private subscribeAccount(accountId: string): Promise<void> {
    return this.subscribeAccounts([accountId]);
  }

  private async subscribeAccounts(accountIds: string[]): Promise<void> {
    const results = await this.client.subscribeMany(accountIds.map((accountId) => ({ accountId, since: this.client.lastEventId(accountId) ?? 'start' })));
    for (const r of results) if (!r.ok) this.noteState(r.accountId, { state: 'error', error: describeError(r.error) });
    const ok = results.filter((r) => r.ok).map((r) => r.accountId);
    if (ok.length) {
      try {
        // account.state is not replayed: a change before the subscription took effect is only in the
        // view, and noteState keeps a newer event that overtook this response.
        const views = await this.api.listAccounts();
        for (const view of views) if (ok.includes(view.id)) this.noteState(view.id, view);
      } catch (err) {
        for (const id of ok) this.noteState(id, { state: 'error', error: describeError(err) });
      }
    }
    // Replayed events arrive before the ack; what comes after it is new.
    for (const id of accountIds) this.caughtUp.add(id);
    this.changed();
  }

  private noteState(accountId: string, report: KnownAccountState): void {
    const { state, error, stateVersion } = report;
    this.accountStates.set(accountId, newerAccountState(this.accountStates.get(accountId), { state, error, stateVersion }));
  }

  private async dropAccount(accountId: string): Promise<void> {
    await this.client.unsubscribe(accountId).catch(() => undefined);
    this.client.forgetCursor(accountId);
    for (const [key, m] of this.messages) if (m.accountId === accountId) this.messages.delete(key);
    this.caughtUp.delete(accountId);
  }

  private wire(): void {
    const c = this.client;
    c.on('connection.state', (status) => {
      const wasLive = this.connection.state === 'live';
      this.connection = status;
      // Accounts may have been added elsewhere while we were away.
      if (status.state === 'live' && !wasLive && this.accountsLoaded) void this.loadAccounts();
      this.changed();
    });
    c.on(ServerEvent.MessageNew, (event) => {
      const key = messageKey(event);
      // Replayed events come before the subscribe ack, so later ones are arrivals; the age check
      // keeps a slow replay from ringing for old mail.
      const live = this.caughtUp.has(event.accountId) && !this.messages.has(key) && Date.now() - Date.parse(event.receivedAt) < LIVE_WINDOW_MS;
      const item: MailItem = { ...event, key, fresh: live };
      this.messages.set(key, item);
      if (live) {
        setTimeout(() => this.updateMessage(key, { fresh: false }), FRESH_MS);
        for (const l of this.newMailListeners) l(item);
      }
      this.changed();
    });
    c.on(ServerEvent.MessageFlags, (event) => this.updateMessage(messageKey(event), { flags: event.flags }));
    c.on(ServerEvent.MessageDeleted, (event) => {
      this.messages.delete(messageKey(event));
      this.changed();
    });
    c.on(ServerEvent.MailboxReset, (event) => {
      // UIDs of the old UIDVALIDITY mean nothing any more; what the mailbox holds now follows in the log.
      for (const [key, m] of this.messages) {
        if (m.accountId === event.accountId && m.mailbox === event.mailbox && m.uidValidity !== event.uidValidity) this.messages.delete(key);
      }
      this.changed();
    });
    c.on(ServerEvent.AccountState, (event) => {
      this.noteState(event.accountId, event);
      this.changed();
    });
    c.on(ServerEvent.MessageSent, (event) => this.settleSend(event.sendId, { status: 'sent' }));
    c.on(ServerEvent.MessageSendFailed, (event) => this.settleSend(event.sendId, { status: 'failed', error: event.error.message || event.error.code }));
    c.on('subscription.error', (accountId, error) => {
      this.noteState(accountId, { state: 'error', error: error.message });
      this.changed();
    });
  }

  private settleSend(sendId: string, patch: Partial<SendState>): void {
    for (const [id, s] of this.sends) {
      if (s.sendId !== sendId) continue;
      this.sends.set(id, { ...s, ...patch });
      this.changed();
      return;
    }
    // The result can beat the ack that tells us the sendId; apply it when the ack arrives.
    this.pendingResults.set(sendId, patch);
  }

  private updateMessage(key: string, patch: Partial<MailItem>): void {
    const m = this.messages.get(key);
    if (!m) return;
    this.messages.set(key, { ...m, ...patch });
    this.changed();
  }

  /** Many events can arrive in one tick (a replay); render once for all of them. */
  private changed(): void {
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      for (const l of this.listeners) l();
    });
  }
}

export function describeError(err: unknown): string {
  if (err instanceof PushmailError) return `${err.message}${err.code !== 'http' ? ` (${err.code})` : ''}`;
  return err instanceof Error ? err.message : String(err);
}
