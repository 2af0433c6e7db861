import { AddressInfo, Server, Socket, connect, createServer } from 'node:net';

export interface RecordingRelay {
  port: number;
  /** The command of every line a client sent, upper-cased; a continuation (no tag) as '+'. */
  commands: string[];
  /** When each of `commands` reached the relay (Date.now()), index for index. */
  sentAt: number[];
  close(): Promise<void>;
}

/**
 * A TCP relay in front of a real IMAP server (on loopback `port`) that records the command lines
 * its clients send: how a test counts the round trips of a login or a connect.
 */
export async function recordingRelay(port: number): Promise<RecordingRelay> {
  const commands: string[] = [];
  const sentAt: number[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound: Socket) => {
    const outbound = connect(port, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    let buffered = '';
    inbound.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      let nl: number;
      while ((nl = buffered.indexOf('\r\n')) >= 0) {
        // `<tag> <COMMAND> …`; a continuation (no tag) is recorded as '+'.
        const [tag, command] = buffered.slice(0, nl).split(' ');
        commands.push(command ? command.toUpperCase() : tag ? '+' : '');
        sentAt.push(Date.now());
        buffered = buffered.slice(nl + 2);
      }
    });
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    commands,
    sentAt,
    // Open sessions (a watcher's) are cut, or they would hold the server open.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
