import { Socket, connect } from 'node:net';
import { waitFor } from './processes';
import { TcpRelay, tcpStub } from './tcp';

const dial = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });

/** Resolves when the other end has closed `socket` (read to its end: unread bytes would hold the EOF back). */
const closed = (socket: Socket) =>
  new Promise<void>((resolve) => {
    if (socket.destroyed) return resolve();
    socket.once('close', () => resolve()).resume();
  });

/** A client through a relay in front of an echo server, and what has come back to it. */
async function echoThroughRelay() {
  const echo = await tcpStub((s) => s.on('data', (chunk) => s.write(chunk)));
  const relay = await TcpRelay.start(echo.port);
  const client = await dial(relay.port);
  const back = { text: '' };
  client.on('data', (chunk) => (back.text += chunk.toString('latin1')));
  const dispose = async () => {
    client.destroy();
    await Promise.all([relay.close(), echo.close()]);
  };
  return { relay, client, back, dispose };
}

describe('TcpRelay', () => {
  it('records the lines a client sends, whole even when split across packets, and passes both ways', async () => {
    const { relay, client, back, dispose } = await echoThroughRelay();
    try {
      client.write('a1 LOGIN x y\r\na2 SEL');
      await waitFor(() => relay.lines.length === 1, 2000, 'the first line');
      client.write('ECT INBOX\r\nliteral text\r\n');
      await waitFor(() => relay.lines.length === 3, 2000, 'the split line');
      expect(relay.lines).toEqual(['a1 LOGIN x y', 'a2 SELECT INBOX', 'literal text']);
      expect(relay.commands).toEqual(['LOGIN', 'SELECT', 'TEXT']);
      expect(relay.sentAt).toHaveLength(3);
      await waitFor(() => back.text === 'a1 LOGIN x y\r\na2 SELECT INBOX\r\nliteral text\r\n', 2000, 'the echo through the relay');
    } finally {
      await dispose();
    }
  });

  it('holds every byte while frozen and delivers them in order on thaw; close cuts the connection', async () => {
    const { relay, client, back, dispose } = await echoThroughRelay();
    try {
      relay.freeze();
      client.write('one\r\n');
      client.write('two\r\n');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(back.text).toBe('');
      relay.thaw();
      await waitFor(() => back.text === 'one\r\ntwo\r\n', 2000, 'the held bytes');
      await relay.close();
      await closed(client);
    } finally {
      await dispose();
    }
  });
});

describe('tcpStub', () => {
  it('counts connections and hands each to its handler; close cuts those still open', async () => {
    const stub = await tcpStub((s) => s.write('* OK hello\r\n'));
    const greeting = await new Promise<string>((resolve) => {
      const client = connect(stub.port, '127.0.0.1');
      client.once('data', (chunk) => {
        resolve(chunk.toString());
        client.destroy();
      });
    });
    const held = await dial(stub.port);
    expect(greeting).toBe('* OK hello\r\n');
    // The client's connect can come before the server's accept.
    await waitFor(() => stub.connections() === 2, 2000, 'both connections counted');
    await stub.close();
    await closed(held);
  });
});
