import { AddressInfo, Server, Socket, connect, createServer } from 'node:net';

async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/** Stops accepting and cuts every open connection; resolves once the server is closed. */
function closeAll(server: Server, sockets: Set<Socket>): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const s of sockets) s.destroy();
  return closed;
}

/**
 * A TCP relay in front of a server on loopback `targetPort`, for tests that watch or disturb the
 * traffic between a client and a real server:
 * - it records every line the clients send (an IMAP client's commands: how a test counts the round
 *   trips of a login, or checks that a session never IDLEs);
 * - `freeze` holds every byte in both directions while both ends still see an open connection, as
 *   in a network partition, and `thaw` lets them through in order;
 * - `close` cuts every connection and refuses new ones: what the server sees when the process
 *   behind the client is killed (its kernel closes the sockets).
 */
export class TcpRelay {
  /** Every line a client sent (without its CRLF), in arrival order; literals and continuations too. */
  readonly lines: string[] = [];
  /** The IMAP command of each line, upper-cased; a continuation (no tag) as '+'. A test may empty it. */
  readonly commands: string[] = [];
  /** When each of `commands` reached the relay (Date.now()), index for index. */
  readonly sentAt: number[] = [];
  private frozen = false;
  private readonly held: Array<[Socket, Buffer]> = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TcpRelay> {
    const server = createServer();
    const relay = new TcpRelay(server, await listenOnLoopback(server));
    server.on('connection', (client) => relay.relay(client, connect(targetPort, '127.0.0.1')));
    return relay;
  }

  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
    for (const [to, chunk] of this.held.splice(0)) to.write(chunk);
  }

  close(): Promise<void> {
    return closeAll(this.server, this.sockets);
  }

  private relay(client: Socket, upstream: Socket): void {
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    }
    const forward = (from: Socket, to: Socket) => {
      from.on('data', (chunk: Buffer) => (this.frozen ? this.held.push([to, chunk]) : to.write(chunk)));
      from.on('close', () => to.destroy());
      from.on('error', () => to.destroy());
    };
    forward(client, upstream);
    forward(upstream, client);
    // Per connection: a line split across chunks is recorded once it is whole.
    let partial = '';
    client.on('data', (chunk: Buffer) => {
      partial += chunk.toString('latin1');
      let nl: number;
      while ((nl = partial.indexOf('\r\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 2);
        if (!line) continue;
        // `<tag> <COMMAND> …`
        const [tag, command] = line.split(' ');
        this.lines.push(line);
        this.commands.push(command ? command.toUpperCase() : tag ? '+' : '');
        this.sentAt.push(Date.now());
      }
    });
  }
}

/** A server that accepts connections and then does what it was told with each; see {@link tcpStub}. */
export interface TcpStub {
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/**
 * A TCP server on loopback that hands each connection to `onConnection` (by default it does
 * nothing with it: a server that never answers, not even a greeting) and counts them. What tests
 * use for a mail server that hangs (write a greeting, then nothing), one that closes at once, or
 * a port that must never be dialled.
 */
export async function tcpStub(onConnection: (socket: Socket) => void = () => undefined): Promise<TcpStub> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  const port = await listenOnLoopback(server);
  return { port, connections: () => connections, close: () => closeAll(server, sockets) };
}
