import { ClientCommand, MessageNewEvent, ServerEvent } from '@pushmail/contracts';
import { PushmailClient, PushmailSocket } from './pushmail-client';
import { compareEventIds } from './event-ids';

/** Stands in for socket.io-client's Socket: records commands, lets the test play the gateway. */
class FakeSocket {
  connected = false;
  active = true;
  readonly commands: Array<{ name: string; req: { accountId: string; since?: string } }> = [];
  connects = 0;
  private readonly handlers = new Map<string, Array<(...args: unknown[]) => void>>();

  on(event: string, handler: (...args: unknown[]) => void) {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), handler]);
    return this;
  }
  fire(event: string, ...args: unknown[]) {
    for (const h of this.handlers.get(event) ?? []) h(...args);
  }
  connect() {
    this.connects++;
    this.connected = true;
    this.fire('connect');
    return this;
  }
  disconnect() {
    this.connected = false;
    this.fire('disconnect', 'io client disconnect');
    return this;
  }
  drop() {
    this.connected = false;
    this.fire('disconnect', 'transport close');
  }
  timeout() {
    return this;
  }
  async emitWithAck(name: string, req: { accountId: string; since?: string }) {
    this.commands.push({ name, req });
    return { ok: true, replayed: 0 };
  }
}

const newEvent = (eventId: string, uid: number): MessageNewEvent => ({
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
  const client = new PushmailClient({ url: 'http://gw', token: 't', createSocket: () => socket as unknown as PushmailSocket });
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
    expect(socket.commands).toEqual([{ name: ClientCommand.Subscribe, req: { accountId: 'a1', since: '0-0' } }]);
    socket.fire(ServerEvent.MessageNew, newEvent('100-0', 1));
    socket.fire(ServerEvent.MessageNew, newEvent('100-1', 2));
    socket.drop();
    socket.connect();
    await flush();
    expect(socket.commands[1]).toEqual({ name: ClientCommand.Subscribe, req: { accountId: 'a1', since: '100-1' } });
    expect(states).toEqual(['connecting', 'live', 'reconnecting', 'live']);
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
      expect(socket.commands.at(-1)?.req).toEqual({ accountId: 'a1', since: '7-3' });
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
        this.active = false;
        this.fire('connect_error', new Error('server_shutting_down'));
        return this;
      };
      const client = new PushmailClient({ url: 'http://gw', token: 't', createSocket: () => socket as unknown as PushmailSocket });
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
      this.fire('connect_error', new Error('unauthorized'));
      return this;
    };
    const client = new PushmailClient({ url: 'http://gw', token: 'bad', createSocket: () => socket as unknown as PushmailSocket });
    await expect(client.connect()).rejects.toMatchObject({ code: 'unauthorized' });
    expect(client.connection).toEqual({ state: 'offline', error: 'unauthorized' });
  });

  it('a refused command rejects with the gateway code', async () => {
    const { socket, client } = setup();
    socket.emitWithAck = async () => ({ ok: false, error: { code: 'forbidden', message: 'no' } }) as never;
    await client.connect();
    await expect(client.flag({ accountId: 'x', mailbox: 'INBOX', uid: 1, add: ['\\Seen'] })).rejects.toMatchObject({ code: 'forbidden' });
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
