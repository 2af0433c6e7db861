import { randomBytes } from 'node:crypto';
import { Socket, connect } from 'node:net';

/**
 * A WebSocket client written on a bare TCP socket, for tests that must misbehave in ways a real
 * client library does not allow: send one huge frame, say nothing, or stop reading altogether
 * (`pauseReading`, which leaves the gateway's writes to pile up in TCP buffers and then its own).
 * Text frames only, unfragmented; enough for engine.io.
 */
export class RawWebSocket {
  readonly messages: string[] = [];
  closed = false;
  private buffer = Buffer.alloc(0);
  private readonly closedPromise: Promise<void>;

  private constructor(private readonly socket: Socket) {
    this.closedPromise = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.once('close', () => {
      this.closed = true;
    });
    socket.on('error', () => undefined);
  }

  /** Opens `ws://host:port/socket.io/?EIO=4&transport=websocket` and resolves after the 101. */
  static open(httpUrl: string): Promise<RawWebSocket> {
    const { hostname, port } = new URL(httpUrl);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname);
      socket.once('error', reject);
      socket.once('connect', () => {
        const key = randomBytes(16).toString('base64');
        socket.write(
          `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
        let head = Buffer.alloc(0);
        const onData = (chunk: Buffer) => {
          head = Buffer.concat([head, chunk]);
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          socket.off('data', onData);
          if (!head.subarray(0, end).toString().startsWith('HTTP/1.1 101')) return reject(new Error(head.subarray(0, end).toString()));
          const ws = new RawWebSocket(socket);
          socket.on('data', (c: Buffer) => ws.onData(c));
          ws.onData(head.subarray(end + 4));
          resolve(ws);
        };
        socket.on('data', onData);
      });
    });
  }

  /** Sends one masked text frame (as a client must). */
  send(text: string): void {
    const payload = Buffer.from(text);
    const len = payload.length;
    const header = len < 126 ? Buffer.from([0x81, 0x80 | len]) : len < 65536 ? Buffer.from([0x81, 0x80 | 126, len >> 8, len & 255]) : Buffer.alloc(10);
    if (len >= 65536) {
      header[0] = 0x81;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(len), 2);
    }
    const mask = randomBytes(4);
    for (let i = 0; i < len; i++) payload[i] ^= mask[i & 3];
    this.socket.write(Buffer.concat([header, mask, payload]));
  }

  /** Stops reading from the socket: the kernel's buffers fill, then the gateway's. */
  pauseReading(): void {
    this.socket.pause();
  }

  /** Resolves with the first message matching, waiting up to `timeoutMs`. */
  async next(match: (m: string) => boolean, timeoutMs = 5000): Promise<string> {
    const started = Date.now();
    for (;;) {
      const found = this.messages.find(match);
      if (found !== undefined) return found;
      if (this.closed) throw new Error('closed before the message arrived');
      if (Date.now() - started > timeoutMs) throw new Error('no such message in time');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Resolves true if the server closed the connection within `timeoutMs`. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    const result = await Promise.race([this.closedPromise.then(() => true), timeout]);
    clearTimeout(timer);
    return result;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.buffer.length < 2) return;
      const opcode = this.buffer[0] & 0x0f;
      let len = this.buffer[1] & 0x7f;
      let offset = 2;
      if (len === 126) {
        if (this.buffer.length < 4) return;
        len = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (this.buffer.length < 10) return;
        len = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.buffer.length < offset + len) return;
      const payload = this.buffer.subarray(offset, offset + len);
      this.buffer = this.buffer.subarray(offset + len);
      if (opcode === 0x1) this.messages.push(payload.toString());
      if (opcode === 0x8) this.socket.end();
    }
  }
}
