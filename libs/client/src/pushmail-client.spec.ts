import { ClientCommand, ClientToServerEvents, FullMessageNewEvent, ServerEvent, ServerToClientEvents, SubscribeRequest, SubscribeRequestSchema, isSubscribeBatch } from '@pushmail/contracts';
import { Manager, Socket } from 'socket.io-client';
import { PushmailClient } from './pushmail-client';
import { compareEventIds } from './event-ids';

const isBatch = (req: unknown): boolean => typeof req === 'object' && req !== null && 'accounts' in req;

/**
 * A real socket.io-client Socket (so it goes where a PushmailSocket is typed, no cast) that never
 * opens a connection: its Manager does not auto-connect and connect/disconnect/emit are played
 * here. Records subscribe commands, lets the test play the gateway.
 */
class FakeSocket extends Socket<ServerToClientEvents, ClientToServerEvents> {
  /** What `active` answers: false once a refusal means socket.io would not retry by itself. */
  isActive = true;
  /** Subscribe commands the default gateway answered, validated against the contract. */
  readonly commands: Array<{ name: string; req: SubscribeRequest }> = [];
  /** Accounts the fake gateway refuses as another user's. */
  readonly foreign = new Set<string>();
  connects = 0;
  /** The gateway's answer to a command (its ack); tests of refusals replace it. */
  answer: (name: string, req: unknown) => unknown = (name, req) => this.playGateway(name, req);

  constructor() {
    super(new Manager('http://gw', { autoConnect: false }), '/');
  }

  override get active(): boolean {
    return this.isActive;
  }

  /** A server event, delivered to the client's listeners by name as socket.io's emitter does. */
  fire<E extends keyof ServerToClientEvents>(event: E, ...args: Parameters<ServerToClientEvents[E]>): void {
    // Reflect.apply: the listener's type depends on E, which TS cannot follow into a call.
    for (const listener of this.listeners(event)) Reflect.apply(listener, this, args);
  }
  /** The connection attempt is refused (socket.io's connect_error). */
  refuse(err: Error): void {
    this.emitReserved('connect_error', err);
  }
  override connect(): this {
    this.connects++;
    this.connected = true;
    this.emitReserved('connect');
    return this;
  }
  override disconnect(): this {
    this.connected = false;
    this.emitReserved('disconnect', 'io client disconnect');
    return this;
  }
  drop(): void {
    this.connected = false;
    this.emitReserved('disconnect', 'transport close');
  }
  /** Every command the client sends (emitWithAck, after timeout()) ends here, its ack last. */
  override emit(name: string, ...args: unknown[]): this {
    const ack = args.at(-1);
    if (typeof ack !== 'function') throw new Error(`${name} sent without an ack`);
    const reply = this.answer(name, args[0]);
    // emitWithAck's callback takes (err, ack) under timeout().
    Reflect.apply(ack, undefined, [null, reply]);
    return this;
  }

  private playGateway(name: string, req: unknown): unknown {
    if (name !== ClientCommand.Subscribe) return { ok: true, replayed: 0 };
    const subscribe = SubscribeRequestSchema.parse(req);
    this.commands.push({ name, req: subscribe });
    if ('accounts' in subscribe) {
      const results = subscribe.accounts.map(({ accountId }) =>
        this.foreign.has(accountId) ? { accountId, ok: false, error: { code: 'forbidden', message: 'no such account for this user' } } : { accountId, ok: true, replayed: 0 },
      );
      return { ok: true, results };
    }
    return { ok: true, replayed: 0 };
  }
}

const newEvent = (eventId: string, uid: number): FullMessageNewEvent => ({
  eventId,
  accountId: 'a1',
  mailbox: 'INBOX',
  uid,
  uidValidity: 1,
  messageId: `<${uid}@x>`,
  subject: `m${uid}`,
  from: null,
  to: [],
  cc: [],
  date: null,
  receivedAt: new Date(0).toISOString(),
  flags: [],
  size: 1,
  preview: '',
  text: '',
  html: null,
  attachments: [],
});

function setup() {
  const socket = new FakeSocket();
  const client = new PushmailClient({ url: 'http://gw', token: 't', createSocket: () => socket });
  const states: string[] = [];
  client.on('connection.state', (s) => states.push(s.state));
  const received: string[] = [];
  client.on(ServerEvent.MessageNew, (e) => received.push(e.eventId));
  return { socket, client, states, received };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('PushmailClient', () => {
  it('resubscribes after a reconnect with since = the last eventId seen', async () => {
    const { socket, client, states } = setup();
    const subscribed = client.subscribe('a1', { since: 'start' });
    await client.connect();
    await expect(subscribed).resolves.toEqual({ replayed: 0 });
    expect(socket.commands).toEqual([{ name: ClientCommand.Subscribe, req: { accounts: [{ accountId: 'a1', since: '0-0' }] } }]);
    socket.fire(ServerEvent.MessageNew, newEvent('100-0', 1));
    socket.fire(ServerEvent.MessageNew, newEvent('100-1', 2));
    socket.drop();
    socket.connect();
    await flush();
    expect(socket.commands[1]).toEqual({ name: ClientCommand.Subscribe, req: { accounts: [{ accountId: 'a1', since: '100-1' }] } });
    expect(states).toEqual(['connecting', 'live', 'reconnecting', 'live']);
  });

  it('subscribes 100 accounts with one batch on connect and one after a reconnect, each resuming after its cursor', async () => {
    const { socket, client } = setup();
    const ids = Array.from({ length: 100 }, (_, i) => `acc${i}`);
    const results = client.subscribeMany(ids);
    await client.connect();
    expect(await results).toEqual(ids.map((accountId) => ({ accountId, ok: true, replayed: 0 })));
    expect(socket.commands).toEqual([{ name: ClientCommand.Subscribe, req: { accounts: ids.map((accountId) => ({ accountId })) } }]);
    socket.fire(ServerEvent.MessageNew, { ...newEvent('42-0', 1), accountId: 'acc7' });
    socket.drop();
    socket.connect();
    await flush();
    expect(socket.commands).toHaveLength(2);
    const again = socket.commands[1].req;
    if (!isSubscribeBatch(again)) throw new Error('the resubscribe was not sent as a batch');
    expect(again.accounts).toHaveLength(100);
    expect(again.accounts[7]).toEqual({ accountId: 'acc7', since: '42-0' });
    expect(again.accounts[8]).toEqual({ accountId: 'acc8' });
  });

  it('sends at most 500 accounts per batch', async () => {
    const { socket, client } = setup();
    for (let i = 0; i < 1200; i++) void client.subscribe(`acc${i}`);
    await client.connect();
    expect(socket.commands.map((c) => ('accounts' in c.req ? c.req.accounts.length : 1))).toEqual([500, 500, 200]);
  });

  it('subscribeMany while connected answers per account: a refused one is its own result and a subscription.error', async () => {
    const { socket, client } = setup();
    const errors: Array<[string, string]> = [];
    client.on('subscription.error', (accountId, err) => errors.push([accountId, err.code]));
    await client.connect();
    socket.foreign.add('theirs');
    const results = await client.subscribeMany(['mine', { accountId: 'theirs' }, { accountId: 'old', since: '5-0' }]);
    expect(results).toEqual([
      { accountId: 'mine', ok: true, replayed: 0 },
      { accountId: 'theirs', ok: false, error: expect.objectContaining({ code: 'forbidden' }) },
      { accountId: 'old', ok: true, replayed: 0 },
    ]);
    expect(socket.commands.at(-1)?.req).toEqual({ accounts: [{ accountId: 'mine' }, { accountId: 'theirs' }, { accountId: 'old', since: '5-0' }] });
    expect(errors).toEqual([['theirs', 'forbidden']]);
  });

  it('a refused batch rejects every account in it and reports each', async () => {
    const { socket, client } = setup();
    const errors: string[] = [];
    client.on('subscription.error', (accountId) => errors.push(accountId));
    socket.answer = () => ({ ok: false, error: { code: 'rate_limited', message: 'slow down' } });
    const results = client.subscribeMany(['a', 'b']);
    await client.connect().catch(() => undefined);
    expect((await results).map((r) => !r.ok && r.error.code)).toEqual(['rate_limited', 'rate_limited']);
    expect(errors).toEqual(['a', 'b']);
  });

  it('falls back to one subscribe per account when the gateway does not know the batch form', async () => {
    const { socket, client } = setup();
    const answer = socket.answer;
    socket.answer = (name, req) => (isBatch(req) ? { ok: false, error: { code: 'bad_request', message: 'accountId: Required' } } : answer(name, req));
    const results = client.subscribeMany(['a', 'b']);
    await client.connect();
    expect(await results).toEqual([
      { accountId: 'a', ok: true, replayed: 0 },
      { accountId: 'b', ok: true, replayed: 0 },
    ]);
    expect(socket.commands.map((c) => c.req)).toEqual([{ accountId: 'a' }, { accountId: 'b' }]);
  });

  it('passes each event on once, even when a replay overlaps what was delivered', async () => {
    const { socket, client, received } = setup();
    await client.connect();
    await client.subscribe('a1');
    for (const id of ['5-0', '6-0', '6-0', '5-0', '10-0', '9-9']) socket.fire(ServerEvent.MessageNew, newEvent(id, 1));
    expect(received).toEqual(['5-0', '6-0', '10-0']);
    expect(client.lastEventId('a1')).toBe('10-0');
  });

  it('on server.shutdown leaves and reconnects by itself, resuming where it was', async () => {
    jest.useFakeTimers();
    try {
      const { socket, client, states } = setup();
      await client.connect();
      await client.subscribe('a1');
      socket.fire(ServerEvent.MessageNew, newEvent('7-3', 1));
      socket.fire(ServerEvent.ServerShutdown, { reconnectInMs: 1000 });
      expect(socket.connected).toBe(false);
      expect(states.at(-1)).toBe('reconnecting');
      await jest.advanceTimersByTimeAsync(2500);
      expect(socket.connects).toBe(2);
      expect(socket.commands.at(-1)?.req).toEqual({ accounts: [{ accountId: 'a1', since: '7-3' }] });
      expect(states.at(-1)).toBe('live');
    } finally {
      jest.useRealTimers();
    }
  });

  it('passes on every mailbox.reset of a trimmed-log batch, though they share one eventId', async () => {
    const { socket, client } = setup();
    const resets: string[] = [];
    client.on(ServerEvent.MailboxReset, (e) => resets.push(e.mailbox));
    await client.connect();
    await client.subscribe('a1', { since: '1-0' });
    for (const mailbox of ['INBOX', 'Sent']) socket.fire(ServerEvent.MailboxReset, { eventId: '50-0', accountId: 'a1', mailbox, uidValidity: 7 });
    socket.fire(ServerEvent.MessageNew, newEvent('50-0', 1));
    expect(resets).toEqual(['INBOX', 'Sent']);
  });

  it('retries by itself after the server refuses a connection it may accept later', async () => {
    jest.useFakeTimers();
    try {
      const socket = new FakeSocket();
      let refuse = true;
      const accept = socket.connect.bind(socket);
      socket.connect = function () {
        if (!refuse) return accept();
        refuse = false;
        socket.isActive = false;
        socket.refuse(new Error('server_shutting_down'));
        return socket;
      };
      const client = new PushmailClient({ url: 'http://gw', token: 't', createSocket: () => socket });
      const connected = client.connect();
      expect(client.connection.state).toBe('reconnecting');
      await jest.advanceTimersByTimeAsync(2000);
      await connected;
      expect(client.connection.state).toBe('live');
    } finally {
      jest.useRealTimers();
    }
  });

  it('an unauthorized refusal goes offline and rejects connect()', async () => {
    const socket = new FakeSocket();
    socket.connect = function () {
      socket.refuse(new Error('unauthorized'));
      return socket;
    };
    const client = new PushmailClient({ url: 'http://gw', token: 'bad', createSocket: () => socket });
    await expect(client.connect()).rejects.toMatchObject({ code: 'unauthorized' });
    expect(client.connection).toEqual({ state: 'offline', error: 'unauthorized' });
  });

  it('a refused command rejects with the gateway code', async () => {
    const { socket, client } = setup();
    socket.answer = () => ({ ok: false, error: { code: 'forbidden', message: 'no' } });
    await client.connect();
    await expect(client.flag({ accountId: 'x', mailbox: 'INBOX', uid: 1, add: ['\\Seen'] })).rejects.toMatchObject({ code: 'forbidden' });
  });

  it('unsubscribe asks the gateway only for an account it holds: not for one deleted elsewhere', async () => {
    const { socket, client } = setup();
    const asked: string[] = [];
    const gateway = socket.answer;
    socket.answer = (name, req) => {
      if (name === ClientCommand.Unsubscribe) asked.push((req as { accountId: string }).accountId);
      return gateway(name, req);
    };
    await client.connect();
    await client.subscribeMany(['a1', 'a2']);
    socket.fire(ServerEvent.AccountChanged, { accountId: 'a2', change: 'deleted' });
    await client.unsubscribe('a1');
    await client.unsubscribe('a2');
    await client.unsubscribe('never');
    expect(asked).toEqual(['a1']);
    expect(client.subscribedAccounts()).toEqual([]);
  });

  it('withBody: a full message.new as it is; a replayed one whose body expired through message.get', async () => {
    const { socket, client } = setup();
    const asked: unknown[] = [];
    const fetched = { ...newEvent('7-0', 3), text: 'from the server' };
    socket.answer = (name, req) => {
      asked.push({ name, req });
      return { ok: true, message: fetched };
    };
    await client.connect();
    const full = newEvent('7-0', 3);
    expect(await client.withBody(full)).toBe(full);
    expect(asked).toEqual([]);
    const { text: _t, html: _h, ...summary } = full;
    expect(await client.withBody({ ...summary, bodyExpired: true })).toEqual(fetched);
    expect(asked).toEqual([{ name: ClientCommand.MessageGet, req: { accountId: 'a1', mailbox: 'INBOX', uid: 3 } }]);
  });
});

describe('compareEventIds', () => {
  it('orders by milliseconds, then sequence, numerically', () => {
    expect(compareEventIds('10-0', '9-5')).toBe(1);
    expect(compareEventIds('9-10', '9-9')).toBe(1);
    expect(compareEventIds('9-9', '9-9')).toBe(0);
    expect(compareEventIds('1700000000000-0', '1700000000001-0')).toBe(-1);
  });
});
