import {
  ConnectionStatus,
  KnownAccountState,
  NewAccount,
  newerAccountState,
  PushmailClient,
  PushmailError,
  PushmailHttpApi,
} from '@pushmail/client';
import { AccountChangedEvent, AccountView, FullMessageNewEvent, MailboxInfo, MessageSendRequest, MessageSummary, OAuthSignInProvider, ServerEvent } from '@pushmail/contracts';

export interface MailItem extends Omit<FullMessageNewEvent, 'eventId' | 'bodyExpired'> {
  eventId?: string;
  key: string;
  /** Arrived live (not replayed) in the last few seconds: highlighted in the list. */
  fresh: boolean;
  /** Listed from the folder's history: a summary only, the reader fetches the message on open. */
  summaryOnly?: boolean;
  hasAttachments?: boolean;
}

/** How far back a folder has been listed: `nextBefore` null once its oldest message is loaded. */
interface FolderPaging {
  nextBefore: number | null;
  loading: boolean;
  error?: string;
}

export interface SearchState {
  ref: FolderRef;
  text: string;
  items: MailItem[];
  loading: boolean;
  error?: string;
}

const PAGE_SIZE = 50;
const SPECIAL_ORDER = ['\\Inbox', '\\Drafts', '\\Sent', '\\Archive', '\\Flagged', '\\All', '\\Junk', '\\Trash'];

export interface SendState {
  localId: string;
  sendId?: string;
  accountId: string;
  subject: string;
  status: 'sending' | 'sent' | 'failed';
  error?: string;
}

/** A folder of an account, as the UI selects and pages it (no UIDVALIDITY: rows are keyed by UID within the folder). */
export interface FolderRef {
  accountId: string;
  mailbox: string;
}

const FRESH_MS = 4000;
const LIVE_WINDOW_MS = 5 * 60_000;
export const SEEN = '\\Seen';

export const refKey = (ref: FolderRef) => `${ref.accountId}\u0000${ref.mailbox}`;

/** Special folders first (Inbox, Drafts, Sent, Archive, …, Trash), then the rest by path, so children follow their parent. */
export function sortFolders(folders: MailboxInfo[]): MailboxInfo[] {
  const rank = (f: MailboxInfo) => (f.specialUse ? SPECIAL_ORDER.indexOf(f.specialUse) : SPECIAL_ORDER.length);
  return [...folders].sort((a, b) => rank(a) - rank(b) || a.path.localeCompare(b.path));
}

export function summaryItem(m: MessageSummary): MailItem {
  return {
    ...m,
    key: messageKey(m),
    fresh: false,
    summaryOnly: true,
    receivedAt: m.date ?? new Date(0).toISOString(),
    text: '',
    html: null,
    attachments: [],
  };
}

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
  /** Each account's folders as the server lists them (counts refreshed after changes). */
  readonly folders = new Map<string, MailboxInfo[]>();
  private readonly paging = new Map<string, FolderPaging>();
  private readonly folderRefresh = new Map<string, ReturnType<typeof setTimeout>>();
  search: SearchState | null = null;
  connection: ConnectionStatus = { state: 'connecting' };
  /** Accounts whose initial replay finished: later message.new events are live arrivals. */
  private readonly caughtUp = new Set<string>();
  /** Accounts being or already removed here: their late pages and events are ignored. */
  private readonly removedAccounts = new Set<string>();
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
    // The gateway's account.changed can beat this answer; it already listed and subscribed the account.
    if (!this.accounts.some((a) => a.id === view.id)) this.accountAdded(view);
    return view;
  }

  private accountAdded(view: AccountView): void {
    this.accounts = [...this.accounts, view];
    this.noteState(view.id, view);
    void this.subscribeAccount(view.id);
    this.changed();
  }

  /**
   * An account added, changed or removed elsewhere: another tab or device, or the operator's admin
   * API (a new POP3 interval, other watched folders). Before account.changed this page showed what
   * it had read at load until it was reloaded.
   */
  private accountChanged(event: AccountChangedEvent): void {
    if (event.change === 'deleted') {
      void this.accountRemovedElsewhere(event.accountId);
      return;
    }
    const view = event.account;
    if (this.removedAccounts.has(view.id)) return;
    if (!this.accounts.some((a) => a.id === view.id)) return this.accountAdded(view);
    // In place: the sidebar keeps its order.
    this.accounts = this.accounts.map((a) => (a.id === view.id ? view : a));
    this.noteState(view.id, view);
    // Which folders are watched may have changed.
    this.refreshFoldersSoon(view.id);
    this.changed();
  }

  private async accountRemovedElsewhere(accountId: string): Promise<void> {
    if (!this.accounts.some((a) => a.id === accountId)) return;
    this.removedAccounts.add(accountId);
    this.accounts = this.accounts.filter((a) => a.id !== accountId);
    await this.dropAccount(accountId);
    this.changed();
  }

  /** "Sign in with…" buttons to show: what the operator configured (none when the call fails). */
  async oauthProviders(): Promise<OAuthSignInProvider[]> {
    return this.api.oauthProviders().catch(() => []);
  }

  /** Leaves the page for the provider's consent screen; the gateway brings the browser back. */
  async signInWith(provider: string): Promise<void> {
    const { url } = await this.api.oauthStart(provider);
    location.assign(url);
  }

  async removeAccount(accountId: string): Promise<void> {
    // Marked first: a history page or an event of the account still in flight must not bring its
    // rows back once they are dropped (seen in the browser test as a removed account's inbox row).
    this.removedAccounts.add(accountId);
    try {
      await this.api.removeAccount(accountId);
    } catch (err) {
      this.removedAccounts.delete(accountId);
      throw err;
    }
    await this.dropAccount(accountId);
    this.accounts = this.accounts.filter((a) => a.id !== accountId);
    this.changed();
  }

  /** Messages, newest first (by UID within one folder); without a filter, every account's inbox. */
  list(filter?: FolderRef): MailItem[] {
    if (filter) return [...this.messages.values()].filter((m) => m.accountId === filter.accountId && m.mailbox === filter.mailbox).sort((a, b) => b.uid - a.uid);
    // Rows listed from another folder's history stay in that folder; logged events (with an eventId,
    // also replayed ones whose body expired) show here as they arrived.
    const items = [...this.messages.values()].filter((m) => m.mailbox === 'INBOX' || !m.summaryOnly || m.eventId !== undefined);
    return items.sort((a, b) => (b.receivedAt === a.receivedAt ? b.uid - a.uid : b.receivedAt < a.receivedAt ? -1 : 1));
  }

  async loadFolders(accountId: string): Promise<void> {
    try {
      this.folders.set(accountId, sortFolders(await this.client.mailboxes({ accountId })));
    } catch {
      // The sidebar keeps the watched folders it knows from the account view.
    }
    this.changed();
  }

  /** Whether the folder's first page was asked for. */
  started(ref: FolderRef): boolean {
    return this.paging.has(refKey(ref));
  }

  /** Whether older messages of the folder are still to be listed. */
  hasMore(ref: FolderRef): boolean {
    const state = this.paging.get(refKey(ref));
    return !state || state.nextBefore !== null;
  }

  isLoading(ref: FolderRef): boolean {
    return this.paging.get(refKey(ref))?.loading ?? false;
  }

  /**
   * The next page of a folder's history (the newest 50 first). A row the list already has (a live
   * message.new, or an earlier page) is kept, not duplicated: rows are keyed by account, folder and UID.
   */
  async loadMore(ref: FolderRef): Promise<void> {
    const key = refKey(ref);
    const state = this.paging.get(key);
    if (state?.loading || state?.nextBefore === null) return;
    this.paging.set(key, { nextBefore: state?.nextBefore ?? null, loading: true });
    this.changed();
    try {
      const page = await this.client.listMessages({ ...ref, limit: PAGE_SIZE, ...(state?.nextBefore ? { before: state.nextBefore } : {}) });
      if (this.removedAccounts.has(ref.accountId)) return;
      for (const summary of page.messages) {
        const item = summaryItem(summary);
        if (!this.messages.has(item.key)) this.messages.set(item.key, item);
      }
      this.paging.set(key, { nextBefore: page.nextBefore, loading: false });
    } catch (err) {
      this.paging.set(key, { nextBefore: state?.nextBefore ?? null, loading: false, error: describeError(err) });
      throw err;
    } finally {
      this.changed();
    }
  }

  async runSearch(ref: FolderRef, text: string): Promise<void> {
    this.search = { ref, text, items: [], loading: true };
    this.changed();
    try {
      const page = await this.client.search({ ...ref, query: { text }, limit: 200 });
      if (this.search?.text !== text) return;
      this.search = { ref, text, items: page.messages.map((m) => this.messages.get(messageKey(m)) ?? summaryItem(m)), loading: false };
    } catch (err) {
      this.search = { ref, text, items: [], loading: false, error: describeError(err) };
    }
    this.changed();
  }

  clearSearch(): void {
    this.search = null;
    this.changed();
  }

  /** The whole message for a row listed as a summary (message.get); the row keeps its place. */
  async ensureLoaded(item: MailItem): Promise<void> {
    if (!item.summaryOnly) return;
    const message = await this.client.getMessage({ accountId: item.accountId, mailbox: item.mailbox, uid: item.uid });
    const current = this.messages.get(item.key) ?? item;
    this.messages.set(item.key, { ...current, ...message, flags: current.flags, key: item.key, summaryOnly: false });
    this.changed();
  }

  /** To the Trash (or expunged in the Trash); the row goes once the server has done it. */
  async deleteMessage(item: MailItem): Promise<void> {
    await this.client.deleteMessages({ accountId: item.accountId, mailbox: item.mailbox, uids: [item.uid] });
    this.removeLocally(item);
  }

  /** To the `\\Archive` folder, or one named "Archive" (created when missing). */
  async archive(item: MailItem): Promise<void> {
    const folders = this.folders.get(item.accountId) ?? [];
    const target = folders.find((f) => f.specialUse === '\\Archive')?.path ?? folders.find((f) => f.name.toLowerCase() === 'archive')?.path ?? 'Archive';
    if (target === item.mailbox) return;
    await this.client.move({ accountId: item.accountId, mailbox: item.mailbox, uids: [item.uid], to: target, create: true });
    this.removeLocally(item);
  }

  async moveMessage(item: MailItem, to: string): Promise<void> {
    if (to === item.mailbox) return;
    await this.client.move({ accountId: item.accountId, mailbox: item.mailbox, uids: [item.uid], to });
    this.removeLocally(item);
  }

  /** A folder nobody watches sends no message.deleted: the ack is the answer there. */
  private removeLocally(item: MailItem): void {
    this.messages.delete(item.key);
    if (this.search) this.search = { ...this.search, items: this.search.items.filter((m) => m.key !== item.key) };
    this.refreshFoldersSoon(item.accountId);
    this.changed();
  }

  private refreshFoldersSoon(accountId: string): void {
    clearTimeout(this.folderRefresh.get(accountId));
    this.folderRefresh.set(
      accountId,
      setTimeout(() => {
        this.folderRefresh.delete(accountId);
        void this.loadFolders(accountId);
      }, 400),
    );
  }

  unread(filter?: FolderRef): number {
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
    // The inbox shows the mail it already had, not only what arrived since the account was added.
    for (const id of ok) {
      void this.loadFolders(id);
      this.loadMore({ accountId: id, mailbox: 'INBOX' }).catch(() => undefined);
    }
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
    for (const key of this.paging.keys()) if (key.startsWith(`${accountId}\u0000`)) this.paging.delete(key);
    this.folders.delete(accountId);
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
      if (this.removedAccounts.has(event.accountId)) return;
      const key = messageKey(event);
      // Replayed events come before the subscribe ack, so later ones are arrivals; the age check
      // keeps a slow replay from ringing for old mail.
      const live = this.caughtUp.has(event.accountId) && !this.messages.has(key) && Date.now() - Date.parse(event.receivedAt) < LIVE_WINDOW_MS;
      const known = this.messages.get(key);
      // A replayed event whose stored body expired is a summary: a row the reader loads on open
      // (message.get, from the mail server); a row already loaded keeps its body.
      const item: MailItem = !event.bodyExpired
        ? { ...event, key, fresh: live }
        : known && !known.summaryOnly
          ? { ...known, flags: event.flags }
          : { ...event, text: '', html: null, key, fresh: live, summaryOnly: true, hasAttachments: event.attachments.some((a) => !a.inline) };
      this.messages.set(key, item);
      this.refreshFoldersSoon(event.accountId);
      if (live) {
        setTimeout(() => this.updateMessage(key, { fresh: false }), FRESH_MS);
        for (const l of this.newMailListeners) l(item);
      }
      this.changed();
    });
    c.on(ServerEvent.MessageFlags, (event) => {
      this.updateMessage(messageKey(event), { flags: event.flags });
      this.refreshFoldersSoon(event.accountId);
    });
    c.on(ServerEvent.MessageDeleted, (event) => {
      this.messages.delete(messageKey(event));
      this.refreshFoldersSoon(event.accountId);
      this.changed();
    });
    c.on(ServerEvent.MailboxReset, (event) => {
      // UIDs of the old UIDVALIDITY mean nothing any more; what the mailbox holds now follows in the log.
      for (const [key, m] of this.messages) {
        if (m.accountId === event.accountId && m.mailbox === event.mailbox && m.uidValidity !== event.uidValidity) this.messages.delete(key);
      }
      this.changed();
    });
    // Folders created, renamed or deleted on the server (by another client, a rule): list them again.
    c.on(ServerEvent.MailboxesChanged, (event) => this.refreshFoldersSoon(event.accountId));
    c.on(ServerEvent.AccountChanged, (event) => this.accountChanged(event));
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
