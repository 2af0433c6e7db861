import { Socket, connect as netConnect } from 'node:net';
import { TLSSocket, connect as tlsConnect } from 'node:tls';
import { oauthBearerResponse, xoauth2Response } from '@pushmail/credentials';

/**
 * A failed POP3 exchange. The typed fields are the ones `classifyConnectionError`
 * (@pushmail/net-policy) reads, so POP3 failures fall into the same categories as IMAP's:
 * `authenticationFailed` → auth_failed, `tlsFailed` → tls_failed, socket codes → timeout /
 * connection_failed, anything else (`EPOP3`) → protocol_error.
 */
export class Pop3Error extends Error {
  readonly authenticationFailed?: boolean;
  readonly tlsFailed?: boolean;
  constructor(
    message: string,
    readonly code: string,
    extra: { authenticationFailed?: boolean; tlsFailed?: boolean; response?: string } = {},
  ) {
    super(message);
    this.name = 'Pop3Error';
    if (extra.authenticationFailed) this.authenticationFailed = true;
    if (extra.tlsFailed) this.tlsFailed = true;
    if (extra.response !== undefined) this.response = extra.response;
  }
  /** The server's `-ERR` text (never a command we sent: those may hold the password). */
  readonly response?: string;
}

/** A multi-line answer bigger than the caller allowed: the connection is closed, its state unknown. */
export class Pop3TooLargeError extends Pop3Error {
  constructor(readonly limit: number) {
    super(`POP3 response larger than ${limit} bytes`, 'EPOP3_TOO_LARGE');
    this.name = 'Pop3TooLargeError';
  }
}

/** The connection's settings; the credential is in {@link Pop3ConnectOptions}. */
export interface Pop3ConnectBase {
  /** The address to dial (already checked by the host policy). */
  host: string;
  port: number;
  /** Implicit TLS (pop3s, usually 995). */
  secure: boolean;
  /** The name TLS verifies and sends as SNI; absent when the user gave an IP. */
  servername?: string;
  rejectUnauthorized: boolean;
  /** Refuse to send credentials over plain text: on a non-secure port the server must offer STLS. */
  requireTls: boolean;
  user: string;
  connectTimeoutMs?: number;
  /** No byte from the server for this long fails the command in flight (and closes the connection). */
  idleTimeoutMs?: number;
  /** A longer line fails the connection: it bounds what a hostile server makes us buffer. */
  maxLineBytes?: number;
}

/** A password (USER/PASS) or an OAuth access token (SASL XOAUTH2 / OAUTHBEARER, RFC 5034). */
export type Pop3ConnectOptions = Pop3ConnectBase & ({ pass: string; accessToken?: undefined } | { accessToken: string; pass?: undefined });

/** RFC 5034 §4: an AUTH command with its initial response must fit in 255 octets (CRLF included). */
const MAX_AUTH_COMMAND = 255;

export interface Pop3UidlEntry {
  /** The message number in this session (1-based, shifts between sessions). */
  msg: number;
  /** The server's unique id: stable across sessions (RFC 1939: 1-70 characters 0x21-0x7E). */
  uid: string;
}

export interface Pop3ListEntry {
  msg: number;
  size: number;
}

const CRLF = Buffer.from('\r\n');
const DOT = 0x2e;

/**
 * A small POP3 client (RFC 1939, CAPA and response codes from RFC 2449/3206, STLS from RFC 2595)
 * over one socket, one command at a time (no pipelining: a poll sends a handful of commands).
 *
 * Written here rather than taken from npm: the packages there are unmaintained, buffer without
 * limits, and cannot dial a pre-checked address while verifying the host name, which the mail
 * host policy requires (see ImapClientFactory).
 *
 * Multi-line answers are read as bytes (messages need not be UTF-8), dot-unstuffed, and returned
 * with CRLF line ends; both a line and a whole answer are bounded.
 */
export class Pop3Client {
  private socket: Socket;
  private readonly lines: Buffer[] = [];
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private waiter?: { resolve: () => void; reject: (err: Error) => void };
  private failure?: Error;
  private readonly maxLineBytes: number;
  private readonly idleTimeoutMs: number;
  private busy = false;
  /** CAPA's answer after authentication (upper-cased keywords with their arguments). */
  capabilities = new Set<string>();
  /** The server's greeting text, for logs. */
  greeting = '';

  private constructor(socket: Socket, options: Pop3ConnectOptions) {
    this.maxLineBytes = options.maxLineBytes ?? 64 * 1024;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.socket = socket;
    this.attach(socket);
  }

  /** Connects, upgrades with STLS where needed, authenticates with USER/PASS or an OAuth SASL mechanism. */
  static async connect(options: Pop3ConnectOptions): Promise<Pop3Client> {
    for (const [name, value] of [
      ['user', options.user],
      ['pass', options.pass ?? ''],
      ['access token', options.accessToken ?? ''],
    ] as const) {
      // A CR or LF would end the command early and let the rest run as a command of its own.
      if (/[\r\n\0]/.test(value)) throw new Pop3Error(`POP3 ${name} contains a line break`, 'EPOP3_BAD_ARGUMENT', { authenticationFailed: true });
    }
    const socket = await dial(options);
    const client = new Pop3Client(socket, options);
    try {
      client.greeting = (await client.status()).text;
      client.capabilities = await client.capa();
      if (!options.secure) {
        if (client.capabilities.has('STLS')) {
          await client.startTls(options);
          // RFC 2595 §4: what was said before TLS is void, and servers list more SASL mechanisms
          // after it. Only token logins read SASL, so password polls keep their round trips.
          if (options.accessToken !== undefined) client.capabilities = await client.capa();
        } else if (options.requireTls) throw new Pop3Error('the POP3 server offers no STLS; refusing to send credentials in plain text', 'EPOP3_NO_STLS', { tlsFailed: true });
      }
      if (options.accessToken !== undefined) await client.authenticateOAuth(options.user, options.accessToken);
      else await client.login(options.user, options.pass);
      client.capabilities = await client.capa();
      return client;
    } catch (err) {
      client.close();
      throw err;
    }
  }

  /** `UIDL` for every message; throws when the server has no UIDL (pushmail cannot tell messages apart). */
  async uidl(): Promise<Pop3UidlEntry[]> {
    const body = await this.multi('UIDL');
    return this.parseListing(body, 'UIDL').map(([msg, uid]) => {
      if (!/^[\x21-\x7e]{1,70}$/.test(uid)) throw new Pop3Error('POP3 UIDL answer with an invalid unique id', 'EPOP3');
      return { msg, uid };
    });
  }

  /** `LIST`: every message's size in octets. */
  async list(): Promise<Pop3ListEntry[]> {
    const body = await this.multi('LIST');
    return this.parseListing(body, 'LIST').map(([msg, size]) => {
      if (!/^\d{1,15}$/.test(size)) throw new Pop3Error('POP3 LIST answer with an invalid size', 'EPOP3');
      return { msg, size: Number(size) };
    });
  }

  /** `STAT`: message count and total octets. */
  async stat(): Promise<{ count: number; size: number }> {
    const { text } = await this.command('STAT');
    const m = /^(\d+) (\d+)/.exec(text);
    if (!m) throw new Pop3Error('POP3 STAT answer not understood', 'EPOP3');
    return { count: Number(m[1]), size: Number(m[2]) };
  }

  /** The whole message; past `maxBytes` the connection is closed and Pop3TooLargeError thrown. */
  retr(msg: number, maxBytes = Infinity): Promise<Buffer> {
    return this.multi(`RETR ${messageNumber(msg)}`, maxBytes);
  }

  /** The header and the first `lines` lines of the body. */
  top(msg: number, lines: number, maxBytes = Infinity): Promise<Buffer> {
    if (!Number.isInteger(lines) || lines < 0) throw new Pop3Error('TOP line count must be a non-negative integer', 'EPOP3_BAD_ARGUMENT');
    return this.multi(`TOP ${messageNumber(msg)} ${lines}`, maxBytes);
  }

  /** Marks a message deleted; the server removes it only when the session ends with QUIT. */
  async dele(msg: number): Promise<void> {
    await this.command(`DELE ${messageNumber(msg)}`);
  }

  async noop(): Promise<void> {
    await this.command('NOOP');
  }

  /** Ends the session: deletions are committed (UPDATE state), then the socket closes. */
  async quit(): Promise<void> {
    try {
      await this.command('QUIT');
    } finally {
      this.close();
    }
  }

  /** Drops the connection without QUIT: messages marked with DELE stay on the server. */
  close(): void {
    this.fail(new Pop3Error('POP3 connection closed', 'EConnectionClosed'));
    this.socket.destroy();
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  // ---- protocol ----

  private async capa(): Promise<Set<string>> {
    try {
      const body = await this.multi('CAPA');
      const caps = new Set<string>();
      for (const line of splitLines(body)) if (line.trim()) caps.add(line.trim().toUpperCase());
      return new Set([...caps].flatMap((c) => [c, c.split(' ')[0]]));
    } catch (err) {
      // RFC 1939 servers without CAPA answer -ERR: they have no STLS either.
      if (err instanceof Pop3Error && err.code === 'EPOP3_ERR') return new Set();
      throw err;
    }
  }

  private async startTls(options: Pop3ConnectOptions): Promise<void> {
    try {
      await this.command('STLS');
    } catch (err) {
      if (err instanceof Pop3Error && err.code === 'EPOP3_ERR') throw new Pop3Error('the POP3 server refused STLS', 'EPOP3_STLS_REFUSED', { tlsFailed: true });
      throw err;
    }
    // Bytes after the STLS answer but before the handshake were sent in plain text by someone.
    if (this.lines.length || this.partialBytes) throw new Pop3Error('POP3 server sent data after STLS before the TLS handshake', 'STARTTLS_INJECTION');
    this.detach(this.socket);
    const plain = this.socket;
    const secured = await new Promise<TLSSocket>((resolve, reject) => {
      const tls = tlsConnect({ socket: plain, servername: options.servername, rejectUnauthorized: options.rejectUnauthorized });
      const timer = setTimeout(() => {
        tls.destroy();
        reject(new Pop3Error('TLS handshake timed out', 'ERR_TLS_HANDSHAKE_TIMEOUT'));
      }, options.connectTimeoutMs ?? 15_000);
      tls.once('secureConnect', () => {
        clearTimeout(timer);
        resolve(tls);
      });
      tls.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    this.socket = secured;
    this.attach(secured);
  }

  private async login(user: string, pass: string): Promise<void> {
    for (const cmd of [`USER ${user}`, `PASS ${pass}`]) {
      try {
        await this.command(cmd);
      } catch (err) {
        if (!(err instanceof Pop3Error) || err.code !== 'EPOP3_ERR') throw err;
        throw loginRefused(err.response ?? '');
      }
    }
  }

  /**
   * SASL with an access token: XOAUTH2 where CAPA's SASL line offers it (Gmail, Microsoft 365 and
   * Dovecot all do; it is what the SMTP login uses first too), else OAUTHBEARER (RFC 7628). A
   * server that lists no SASL line at all gets XOAUTH2, and its -ERR says whether it knew it.
   * The initial response rides on the AUTH command unless that would pass 255 octets (real tokens
   * usually do), then it follows the server's empty `+` challenge. A refused token comes back as
   * a `+` challenge holding a base64 JSON error: we answer it (empty line for XOAUTH2, ^A for
   * OAUTHBEARER) and the server's -ERR then fails the login as refused credentials.
   */
  private async authenticateOAuth(user: string, accessToken: string): Promise<void> {
    const mechanisms = saslMechanisms(this.capabilities);
    const mechanism = mechanisms === null || mechanisms.includes('XOAUTH2') ? 'XOAUTH2' : mechanisms.includes('OAUTHBEARER') ? 'OAUTHBEARER' : undefined;
    if (!mechanism) throw new Pop3Error('the POP3 server offers neither XOAUTH2 nor OAUTHBEARER', 'EPOP3_NO_OAUTH', { authenticationFailed: true });
    const response = Buffer.from((mechanism === 'XOAUTH2' ? xoauth2Response : oauthBearerResponse)(user, accessToken), 'utf8').toString('base64');
    const withInitial = `AUTH ${mechanism} ${response}`;
    const initial = withInitial.length + 2 <= MAX_AUTH_COMMAND;
    await this.exclusive(async () => {
      this.write(initial ? withInitial : `AUTH ${mechanism}`);
      let sent = initial;
      // At most: our response, the error challenge's answer, the final -ERR.
      for (let round = 0; round < 3; round++) {
        const line = (await this.readLine()).toString('latin1');
        if (line.startsWith('+OK')) return;
        if (line.startsWith('-ERR')) throw loginRefused(line.slice(4).trim());
        if (line !== '+' && !line.startsWith('+ ')) break;
        this.write(sent ? (mechanism === 'OAUTHBEARER' ? 'AQ==' : '') : response);
        sent = true;
      }
      const err = new Pop3Error('POP3 server answered AUTH with neither +OK, -ERR nor a challenge', 'EPOP3');
      this.fail(err);
      this.socket.destroy();
      throw err;
    });
  }

  /** Sends one command and reads its status line; `-ERR` throws Pop3Error with code EPOP3_ERR. */
  private async command(cmd: string): Promise<{ text: string }> {
    return this.exclusive(async () => {
      this.write(cmd);
      return this.status();
    });
  }

  /** Sends a command whose `+OK` is followed by a dot-terminated body; returns the unstuffed body. */
  private async multi(cmd: string, maxBytes = Infinity): Promise<Buffer> {
    return this.exclusive(async () => {
      this.write(cmd);
      await this.status();
      const parts: Buffer[] = [];
      let size = 0;
      for (;;) {
        const line = await this.readLine();
        if (line.length === 1 && line[0] === DOT) break;
        const content = line.length && line[0] === DOT ? line.subarray(1) : line;
        size += content.length + 2;
        if (size > maxBytes) {
          const err = new Pop3TooLargeError(maxBytes);
          this.fail(err);
          this.socket.destroy();
          throw err;
        }
        parts.push(content, CRLF);
      }
      return Buffer.concat(parts, size);
    });
  }

  private async status(): Promise<{ text: string }> {
    const line = (await this.readLine()).toString('latin1');
    if (line.startsWith('+OK')) return { text: line.slice(3).trimStart() };
    if (line.startsWith('-ERR')) throw new Pop3Error(`POP3 server answered: ${line.slice(4).trim()}`, 'EPOP3_ERR', { response: line.slice(4).trim() });
    const err = new Pop3Error('POP3 server answered neither +OK nor -ERR', 'EPOP3');
    this.fail(err);
    this.socket.destroy();
    throw err;
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy) throw new Pop3Error('POP3 command while another is in flight', 'EPOP3_BUSY');
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.busy = false;
    }
  }

  private parseListing(body: Buffer, name: string): Array<[number, string]> {
    return splitLines(body)
      .filter((l) => l.length)
      .map((line) => {
        const m = /^(\d{1,9}) (\S+)/.exec(line);
        if (!m) throw new Pop3Error(`POP3 ${name} answer not understood`, 'EPOP3');
        return [Number(m[1]), m[2]];
      });
  }

  private write(cmd: string): void {
    if (this.failure) throw this.failure;
    this.socket.write(cmd + '\r\n', 'latin1');
  }

  // ---- line reader ----

  private readonly onData = (chunk: Buffer) => {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      const joined = this.partialBytes > 0;
      let line = joined ? Buffer.concat([...this.partial, piece]) : piece;
      this.partial = [];
      this.partialBytes = 0;
      if (line.length && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
      if (line.length > this.maxLineBytes) return this.tooLong();
      // A copy of a slice: the socket's chunk would otherwise be kept alive by every line taken from it.
      this.lines.push(joined ? line : Buffer.from(line));
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.partial.push(Buffer.from(rest));
      this.partialBytes += rest.length;
      if (this.partialBytes > this.maxLineBytes + 1) return this.tooLong();
    }
    this.wake();
  };

  private readonly onTimeout = () => {
    this.fail(new Pop3Error('POP3 server sent nothing in time', 'ETIMEDOUT'));
    this.socket.destroy();
  };

  private readonly onError = (err: Error) => this.fail(err);
  private readonly onClose = () => this.fail(new Pop3Error('POP3 connection closed by the server', 'EConnectionClosed'));

  private tooLong(): void {
    this.fail(new Pop3Error(`POP3 line longer than ${this.maxLineBytes} bytes`, 'EPOP3_LINE_TOO_LONG'));
    this.socket.destroy();
  }

  private attach(socket: Socket): void {
    socket.setTimeout(this.idleTimeoutMs);
    socket.on('data', this.onData);
    socket.on('timeout', this.onTimeout);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private detach(socket: Socket): void {
    socket.setTimeout(0);
    socket.off('data', this.onData);
    socket.off('timeout', this.onTimeout);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
    // The TLS socket takes over; errors on the raw one surface there.
    socket.on('error', () => undefined);
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.lines.length = 0;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(err);
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.resolve();
  }

  private async readLine(): Promise<Buffer> {
    for (;;) {
      const line = this.lines.shift();
      if (line) return line;
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve, reject) => (this.waiter = { resolve, reject }));
    }
  }
}

/** A login's -ERR: RFC 3206 [IN-USE] (mailbox locked by another session) and [SYS/TEMP] are not bad credentials. */
function loginRefused(response: string): Pop3Error {
  const transient = /^\[(IN-USE|SYS\/TEMP|LOGIN-DELAY)\]/i.test(response);
  return new Pop3Error(`POP3 login refused: ${response}`, transient ? 'EPOP3_LOGIN_TEMP' : 'EPOP3_AUTH', { authenticationFailed: !transient, response });
}

/** CAPA's `SASL` mechanisms (upper case), or null when CAPA had no SASL line. */
function saslMechanisms(capabilities: Set<string>): string[] | null {
  for (const c of capabilities) if (c.startsWith('SASL ')) return c.split(' ').slice(1).filter(Boolean);
  return null;
}

function messageNumber(msg: number): number {
  if (!Number.isInteger(msg) || msg < 1) throw new Pop3Error('POP3 message number must be a positive integer', 'EPOP3_BAD_ARGUMENT');
  return msg;
}

function splitLines(body: Buffer): string[] {
  const text = body.toString('latin1');
  const lines = text.split('\r\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function dial(options: Pop3ConnectOptions): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket: Socket = options.secure
      ? tlsConnect({ host: options.host, port: options.port, servername: options.servername, rejectUnauthorized: options.rejectUnauthorized })
      : netConnect({ host: options.host, port: options.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Pop3Error('POP3 connect timed out', 'ETIMEDOUT'));
    }, options.connectTimeoutMs ?? 15_000);
    socket.once(options.secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolve(socket);
    });
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    socket.once('error', onError);
  });
}
