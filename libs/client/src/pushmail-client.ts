import {
  Ack,
  AckError,
  AccountChangedEvent,
  AccountStateEvent,
  ClientCommand,
  ClientToServerEvents,
  FullMessageNewEvent,
  LoggedEventName,
  MailboxInfo,
  MailboxListRequest,
  MailboxResetEvent,
  MailboxesChangedEvent,
  MessageDeleteRequest,
  MessageDeletedEvent,
  MessageFlagRequest,
  MessageFlagsEvent,
  MessageGetRequest,
  MessageListRequest,
  MessageMoveRequest,
  MessageNewEvent,
  MessagePage,
  MessagePartLinkRequest,
  MessageSearchRequest,
  MessageSendFailedEvent,
  MessageSendRequest,
  MessageSentEvent,
  MAX_SUBSCRIBE_BATCH,
  MovedMessage,
  ParsedMessage,
  PartLink,
  ServerEvent,
  ServerToClientEvents,
  SubscribeBatchAck,
  SubscribeBatchRequest,
  UNAUTHORIZED,
} from '@pushmail/contracts';
import { io, ManagerOptions, Socket, SocketOptions } from 'socket.io-client';
import { CursorStore, MemoryCursorStore } from './cursor-store';
import { TypedEmitter } from './emitter';
import { PushmailError } from './errors';
import { START_OF_LOG, compareEventIds } from './event-ids';

/**
 * - `connecting`: the first connection is being made.
 * - `live`: connected and every subscription is (re)established, so events arrive as they happen.
 * - `reconnecting`: the connection dropped (or the gateway is shutting down); the client is retrying
 *   and will resume every subscription from its last eventId.
 * - `offline`: not connected for a while (retries continue in the background), the token was
 *   refused, or the client was closed.
 */
export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'offline';

export interface ConnectionStatus {
  state: ConnectionState;
  /** Why the last attempt failed, e.g. `unauthorized` or a network error. */
  error?: string;
}

export type TokenSource = string | (() => string | Promise<string>);

export type PushmailSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface PushmailClientOptions {
  /** The gateway's base URL, e.g. `https://mail.example.com` (the socket path is `/socket.io`). */
  url: string;
  /** The client token (JWT), or a function asked again before every connection attempt. */
  token: TokenSource;
  cursors?: CursorStore;
  /** How long a command waits for its ack. */
  commandTimeoutMs?: number;
  /** Failed attempts in a row after which the state turns from `reconnecting` to `offline`. */
  offlineAfterAttempts?: number;
  /** Passed to socket.io-client (e.g. `transports: ['websocket']`). */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
  /** Replaces socket.io-client's `io()` (tests). */
  createSocket?: (url: string, options: Partial<ManagerOptions & SocketOptions>) => PushmailSocket;
}

export interface SubscribeOptions {
  /**
   * Where to resume: an eventId (events after it), `'start'` (everything the account's log still
   * holds), or omitted: after the last event this client saw for the account, else live only.
   */
  since?: string | 'start';
}

/** One account of {@link PushmailClient.subscribeMany}: its id, or its id and where to resume. */
export type SubscribeManyEntry = string | ({ accountId: string } & SubscribeOptions);
/** How one account of {@link PushmailClient.subscribeMany} went, in the order asked. */
export type SubscribeManyResult = { accountId: string; ok: true; replayed: number } | { accountId: string; ok: false; error: PushmailError };

/** What a `PushmailClient` emits: the gateway's events plus the connection's own. */
export type PushmailClientEvents = ServerToClientEvents & {
  'connection.state': (status: ConnectionStatus) => void;
  /** A subscription could not be re-established after a reconnect. */
  'subscription.error': (accountId: string, error: PushmailError) => void;
};

const loggedEvents: LoggedEventName[] = [ServerEvent.MessageNew, ServerEvent.MessageFlags, ServerEvent.MessageDeleted, ServerEvent.MailboxReset, ServerEvent.MailboxesChanged];
type LoggedEventPayload = MessageNewEvent | MessageFlagsEvent | MessageDeletedEvent | MailboxResetEvent | MailboxesChangedEvent;

interface Subscription {
  initialSince?: string;
  /** subscribe() calls made while disconnected: settled by the next (re)connection's subscribe. */
  waiting: Array<{ resolve: (r: { replayed: number }) => void; reject: (err: PushmailError) => void }>;
}

/**
 * The typed pushmail client: one Socket.IO connection to a gateway, per-account subscriptions that
 * survive reconnects without losing or repeating events, and the commands of the contract.
 * Works in browsers and in Node.
 */
export class PushmailClient extends TypedEmitter<PushmailClientEvents> {
  private readonly socket: PushmailSocket;
  private readonly cursors: CursorStore;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly commandTimeoutMs: number;
  private readonly offlineAfterAttempts: number;
  private status: ConnectionStatus = { state: 'offline' };
  private failedAttempts = 0;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private closed = false;
  private token: TokenSource;
  private readonly gatewayUrl: string;

  constructor(options: PushmailClientOptions) {
    super();
    this.token = options.token;
    this.gatewayUrl = options.url;
    this.cursors = options.cursors ?? new MemoryCursorStore();
    this.commandTimeoutMs = options.commandTimeoutMs ?? 15_000;
    this.offlineAfterAttempts = options.offlineAfterAttempts ?? 3;
    const create = options.createSocket ?? ((url, opts) => io(url, opts) as PushmailSocket);
    this.socket = create(options.url, {
      path: '/socket.io',
      autoConnect: false,
      reconnectionDelay: 500,
      reconnectionDelayMax: 10_000,
      randomizationFactor: 0.5,
      ...options.socketOptions,
      // Asked before every attempt, so a refreshed token is used after a reconnect.
      auth: (cb: (data: object) => void) => {
        void this.currentToken().then((token) => cb({ token }));
      },
    });
    this.wireSocket();
  }

  get connection(): ConnectionStatus {
    return this.status;
  }

  /** Starts connecting; resolves once connected, rejects if the token is refused. */
  connect(): Promise<void> {
    this.closed = false;
    if (this.socket.connected) return Promise.resolve();
    this.setStatus({ state: this.status.state === 'live' ? 'reconnecting' : 'connecting' });
    const connected = new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        this.off('connection.state', onState);
      };
      const onState = (status: ConnectionStatus) => {
        if (status.state === 'live') {
          cleanup();
          resolve();
        } else if (status.state === 'offline' && (status.error === UNAUTHORIZED || this.closed)) {
          cleanup();
          reject(new PushmailError('unauthorized', status.error ?? 'closed'));
        }
      };
      this.on('connection.state', onState);
    });
    this.socket.connect();
    return connected;
  }

  /** Replaces the token; the next (re)connection uses it. */
  setToken(token: TokenSource): void {
    this.token = token;
  }

  close(): void {
    this.closed = true;
    for (const sub of this.subscriptions.values()) sub.waiting.splice(0).forEach((w) => w.reject(new PushmailError('internal', 'client closed')));
    clearTimeout(this.reconnectTimer);
    this.socket.disconnect();
    this.setStatus({ state: 'offline' });
  }

  /** The last eventId seen for an account: what a reconnect resumes after. */
  lastEventId(accountId: string): string | undefined {
    return this.cursors.get(accountId);
  }

  /**
   * Subscribes to an account's events. The subscription is kept and re-established (with `since`)
   * after every reconnect. Resolves once the gateway has acknowledged it (after connecting, when
   * called before), with how many past events it replayed: those have all been emitted by then.
   */
  async subscribe(accountId: string, options: SubscribeOptions = {}): Promise<{ replayed: number }> {
    const sub = this.register(accountId, options);
    if (!this.socket.connected) return new Promise((resolve, reject) => sub.waiting.push({ resolve, reject }));
    return this.sendSubscribe(accountId);
  }

  /**
   * Subscribes to many accounts with batch `subscribe` commands (up to 500 accounts each, one
   * command each for the gateway's rate limit), like {@link subscribe} for each of them. Resolves
   * once every account has an answer; a refused account (e.g. `forbidden`) is a result with
   * `ok: false`, not a rejection.
   */
  async subscribeMany(accounts: SubscribeManyEntry[]): Promise<SubscribeManyResult[]> {
    const entries = accounts.map((a) => (typeof a === 'string' ? { accountId: a } : a));
    const answers = entries.map(({ accountId, ...options }) => {
      const sub = this.register(accountId, options);
      return new Promise<{ replayed: number }>((resolve, reject) => sub.waiting.push({ resolve, reject }));
    });
    if (this.socket.connected) void this.sendSubscribeBatches([...new Set(entries.map((e) => e.accountId))]);
    const settled = await Promise.allSettled(answers);
    return settled.map((r, i): SubscribeManyResult => {
      const accountId = entries[i].accountId;
      if (r.status === 'fulfilled') return { accountId, ok: true, replayed: r.value.replayed };
      return { accountId, ok: false, error: asPushmailError(r.reason) };
    });
  }

  /**
   * Stops an account's events. Nothing goes to the gateway for an account this client does not
   * hold: never subscribed, or deleted (the gateway dropped a deleted account's subscription
   * itself and said so in account.changed, which dropped it here too; asking again only earned a
   * `forbidden` answer, which the web client sent for every account removed in another tab).
   */
  async unsubscribe(accountId: string): Promise<void> {
    if (!this.subscriptions.has(accountId)) return;
    this.dropSubscription(accountId);
    if (this.socket.connected) await this.command(ClientCommand.Unsubscribe, { accountId });
  }

  subscribedAccounts(): string[] {
    return [...this.subscriptions.keys()];
  }

  /** Forgets where an account's stream was, e.g. to reload it from the start after `mailbox.reset`. */
  forgetCursor(accountId: string): void {
    this.cursors.delete(accountId);
  }

  async getMessage(req: MessageGetRequest): Promise<FullMessageNewEvent | ParsedMessage> {
    const res = await this.command(ClientCommand.MessageGet, req);
    return res.message;
  }

  /**
   * The whole message of a `message.new`: the event itself, or, for a replayed one whose stored body
   * expired (`bodyExpired`), `message.get`, which fetches it from the mail server again.
   */
  async withBody(event: MessageNewEvent): Promise<FullMessageNewEvent | ParsedMessage> {
    if (!event.bodyExpired) return event;
    return this.getMessage({ accountId: event.accountId, mailbox: event.mailbox, uid: event.uid });
  }

  /** Resolves once the IMAP server has stored the flags. */
  async flag(req: MessageFlagRequest): Promise<void> {
    await this.command(ClientCommand.MessageFlag, req);
  }

  /** Resolves with the sendId once queued; `message.sent` / `message.send_failed` tell the outcome. */
  async send(req: MessageSendRequest): Promise<{ sendId: string }> {
    const res = await this.command(ClientCommand.MessageSend, req);
    return { sendId: res.sendId };
  }

  /**
   * A signed URL for one MIME part, for `<a href>` or `<img src>`: it needs no token and works for
   * a few minutes only (until `expiresAt`), so ask again rather than storing it. `url` is absolute,
   * resolved against the gateway's URL.
   */
  async partLink(req: MessagePartLinkRequest): Promise<PartLink> {
    const res = await this.command(ClientCommand.MessagePartLink, req);
    return { url: new URL(res.url, this.gatewayUrl).toString(), expiresAt: res.expiresAt };
  }

  /** The account's folders with counts and special uses (`\\Inbox`, `\\Trash`, …). */
  async mailboxes(req: MailboxListRequest): Promise<MailboxInfo[]> {
    return (await this.command(ClientCommand.MailboxList, req)).mailboxes;
  }

  /** A page of a folder, newest first; pass the page's `nextBefore` as `before` for the next one (null: no more). */
  async listMessages(req: MessageListRequest): Promise<MessagePage> {
    const { messages, nextBefore, total } = await this.command(ClientCommand.MessageList, req);
    return { messages, nextBefore, total };
  }

  /** IMAP search in one folder, paged as {@link listMessages}. */
  async search(req: MessageSearchRequest): Promise<MessagePage> {
    const { messages, nextBefore, total } = await this.command(ClientCommand.MessageSearch, req);
    return { messages, nextBefore, total };
  }

  /**
   * Resolves once the server has moved them. `message.deleted` (and, for a watched target,
   * `message.new`) follow as events, as for any change on the server.
   */
  async move(req: MessageMoveRequest): Promise<MovedMessage[]> {
    return (await this.command(ClientCommand.MessageMove, req)).moved;
  }

  /** To the Trash folder, or expunged when `mailbox` is the Trash or `permanent` is set. */
  async deleteMessages(req: MessageDeleteRequest): Promise<void> {
    await this.command(ClientCommand.MessageDelete, req);
  }

  private async command<C extends ClientCommand>(
    name: C,
    req: Parameters<ClientToServerEvents[C]>[0],
  ): Promise<Extract<Parameters<Parameters<ClientToServerEvents[C]>[1]>[0], { ok: true }>> {
    type Res = Parameters<Parameters<ClientToServerEvents[C]>[1]>[0];
    const timed = this.socket.timeout(this.commandTimeoutMs);
    // The generic C keeps each command's request and ack together (from the contract's event map),
    // which emitWithAck's overloads cannot follow through a type parameter.
    const emitWithAck = timed.emitWithAck as unknown as (ev: C, r: typeof req) => Promise<Res>;
    let res: Res;
    try {
      res = await emitWithAck.call(timed, name, req);
    } catch {
      throw new PushmailError('timeout', `${name}: no answer from the gateway within ${this.commandTimeoutMs} ms`);
    }
    const ack = res as Ack;
    if (!ack.ok) throw PushmailError.fromAck(ack as AckError);
    return res as Extract<Res, { ok: true }>;
  }

  /** Remembers a subscription (kept across reconnects); calls still waiting for an answer stay. */
  private register(accountId: string, options: SubscribeOptions): Subscription {
    const initialSince = options.since === 'start' ? START_OF_LOG : options.since;
    if (options.since !== undefined) this.cursors.delete(accountId);
    const sub: Subscription = { initialSince, waiting: this.subscriptions.get(accountId)?.waiting ?? [] };
    this.subscriptions.set(accountId, sub);
    return sub;
  }

  /**
   * Subscribes the given accounts in batches of {@link MAX_SUBSCRIBE_BATCH}, each resuming after its
   * cursor, and settles their waiting calls. One batch is one command for the rate limit, so a
   * client with many accounts is not refused part of them after a reconnect. A refused account is
   * reported as `subscription.error` (and, as with {@link subscribe}, tried again after a reconnect).
   */
  private async sendSubscribeBatches(accountIds: string[]): Promise<void> {
    for (let i = 0; i < accountIds.length; i += MAX_SUBSCRIBE_BATCH) {
      const chunk = accountIds.slice(i, i + MAX_SUBSCRIBE_BATCH).filter((id) => this.subscriptions.has(id));
      if (!chunk.length) continue;
      const req: SubscribeBatchRequest = {
        accounts: chunk.map((accountId) => {
          const since = this.cursors.get(accountId) ?? this.subscriptions.get(accountId)?.initialSince;
          return since ? { accountId, since } : { accountId };
        }),
      };
      let outcome: Map<string, { ok: true; replayed: number } | { ok: false; error: PushmailError }>;
      try {
        const res = await this.batchCommand(req);
        outcome = new Map(res.results.map((r) => [r.accountId, r.ok ? r : { ok: false, error: PushmailError.fromAck({ ok: false, error: r.error }) }]));
      } catch (err) {
        const error = asPushmailError(err);
        // The batch is well formed, so `bad_request` for the whole of it means a gateway from before
        // batch subscribe (or a bad `since` of one account): ask for each account on its own.
        outcome = error.code === 'bad_request' ? await this.subscribeEach(chunk) : new Map(chunk.map((id) => [id, { ok: false, error }]));
      }
      for (const accountId of chunk) {
        const sub = this.subscriptions.get(accountId);
        const waiting = sub?.waiting.splice(0) ?? [];
        const result = outcome.get(accountId) ?? { ok: false, error: new PushmailError('internal', 'no answer for this account') };
        if (result.ok) {
          waiting.forEach((w) => w.resolve({ replayed: result.replayed }));
          continue;
        }
        waiting.forEach((w) => w.reject(result.error));
        this.emit('subscription.error', accountId, result.error);
      }
    }
  }

  private async subscribeEach(accountIds: string[]): Promise<Map<string, { ok: true; replayed: number } | { ok: false; error: PushmailError }>> {
    const outcome = new Map<string, { ok: true; replayed: number } | { ok: false; error: PushmailError }>();
    for (const accountId of accountIds) {
      try {
        outcome.set(accountId, { ok: true, ...(await this.sendSubscribe(accountId)) });
      } catch (err) {
        outcome.set(accountId, { ok: false, error: asPushmailError(err) });
      }
    }
    return outcome;
  }

  private async batchCommand(req: SubscribeBatchRequest): Promise<Extract<SubscribeBatchAck, { ok: true }>> {
    const timed = this.socket.timeout(this.commandTimeoutMs);
    // The contract types subscribe as two overloads; Socket.IO's emitWithAck typing sees only the last (single) one.
    const emitWithAck = timed.emitWithAck as unknown as (ev: ClientCommand.Subscribe, r: SubscribeBatchRequest) => Promise<SubscribeBatchAck>;
    let res: SubscribeBatchAck;
    try {
      res = await emitWithAck.call(timed, ClientCommand.Subscribe, req);
    } catch {
      throw new PushmailError('timeout', `subscribe: no answer from the gateway within ${this.commandTimeoutMs} ms`);
    }
    if (!res.ok) throw PushmailError.fromAck(res);
    return res;
  }

  private async sendSubscribe(accountId: string): Promise<{ replayed: number }> {
    const sub = this.subscriptions.get(accountId);
    const since = this.cursors.get(accountId) ?? sub?.initialSince;
    const res = await this.command(ClientCommand.Subscribe, since ? { accountId, since } : { accountId });
    return { replayed: res.replayed };
  }

  private wireSocket(): void {
    const socket = this.socket;
    socket.on('connect', () => {
      this.failedAttempts = 0;
      void this.resubscribeAll().then(() => {
        if (socket.connected) this.setStatus({ state: 'live' });
      });
    });
    socket.on('connect_error', (err: Error) => {
      if (err.message === UNAUTHORIZED) {
        // The gateway refused the token; retrying with the same one cannot help.
        this.setStatus({ state: 'offline', error: UNAUTHORIZED });
        return;
      }
      this.failedAttempts++;
      const state = this.failedAttempts >= this.offlineAfterAttempts ? 'offline' : 'reconnecting';
      this.setStatus({ state, error: err.message });
      // socket.io retries network failures by itself, but not a refusal by the server's middleware
      // (e.g. `server_shutting_down` from a draining gateway): the next attempt may reach another one.
      if (!socket.active && !this.closed) this.reconnectAfter(backoffWithJitter(Math.min(10_000, 250 * 2 ** this.failedAttempts)));
    });
    socket.on('disconnect', (reason) => {
      if (this.closed) return this.setStatus({ state: 'offline' });
      // Leaving on purpose (server.shutdown): the reconnect is already scheduled.
      if (this.reconnectTimer) return;
      this.setStatus({ state: 'reconnecting', error: reason });
      // socket.io retries by itself except after a server-side disconnect; treat that as a blip too.
      if (reason === 'io server disconnect') this.reconnectAfter(backoffWithJitter(500));
    });
    socket.on(ServerEvent.ServerShutdown, ({ reconnectInMs }) => {
      // The gateway is going away: leave now and come back (to another replica) after the delay
      // it chose, which already spreads its clients out.
      this.setStatus({ state: 'reconnecting', error: 'server shutdown' });
      this.reconnectAfter(Math.max(0, reconnectInMs));
      socket.disconnect();
    });
    for (const name of loggedEvents) {
      socket.on(name, (event: LoggedEventPayload) => this.onLoggedEvent(name, event));
    }
    socket.on(ServerEvent.AccountState, (event: AccountStateEvent) => this.emit(ServerEvent.AccountState, event));
    socket.on(ServerEvent.AccountChanged, (event: AccountChangedEvent) => {
      // The gateway already dropped a removed account's subscription: forget it here too, so a
      // reconnect does not ask again and report a `forbidden` subscription.error for it. Its
      // cursor points into a log that no longer exists.
      if (event.change === 'deleted') {
        this.dropSubscription(event.accountId);
        this.cursors.delete(event.accountId);
      }
      this.emit(ServerEvent.AccountChanged, event);
    });
    socket.on(ServerEvent.MessageSent, (event: MessageSentEvent) => this.emit(ServerEvent.MessageSent, event));
    socket.on(ServerEvent.MessageSendFailed, (event: MessageSendFailedEvent) => this.emit(ServerEvent.MessageSendFailed, event));
  }

  private dropSubscription(accountId: string): void {
    this.subscriptions.get(accountId)?.waiting.splice(0).forEach((w) => w.reject(new PushmailError('internal', 'unsubscribed')));
    this.subscriptions.delete(accountId);
  }

  private reconnectAfter(ms: number): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.closed && !this.socket.connected) this.socket.connect();
    }, ms);
  }

  /**
   * Passes an event on unless it is at or before the account's cursor: a resubscribe can overlap
   * what was already delivered, and the application should see each event exactly once.
   */
  private onLoggedEvent(name: LoggedEventName, event: LoggedEventPayload): void {
    const cursor = this.cursors.get(event.accountId);
    // After a trimmed log, one mailbox.reset per mailbox arrives, all with the same eventId.
    const minOrder = name === ServerEvent.MailboxReset ? 0 : 1;
    if (cursor && compareEventIds(event.eventId, cursor) < minOrder) return;
    this.cursors.set(event.accountId, event.eventId);
    (this.emit as (n: LoggedEventName, e: LoggedEventPayload) => void)(name, event);
  }

  /** After every (re)connection: every kept subscription, in batches, each after its cursor. */
  private resubscribeAll(): Promise<void> {
    return this.sendSubscribeBatches([...this.subscriptions.keys()]);
  }

  private async currentToken(): Promise<string> {
    return typeof this.token === 'function' ? this.token() : this.token;
  }

  private setStatus(status: ConnectionStatus): void {
    if (status.state === this.status.state && status.error === this.status.error) return;
    this.status = status;
    this.emit('connection.state', status);
  }
}

function asPushmailError(err: unknown): PushmailError {
  return err instanceof PushmailError ? err : new PushmailError('internal', String(err));
}

/** Spreads reconnects so a restarted gateway is not hit by every client at once. */
function backoffWithJitter(baseMs: number): number {
  return Math.round(baseMs / 2 + Math.random() * baseMs);
}
