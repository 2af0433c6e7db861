import { classifyConnectionError } from '@pushmail/net-policy';
import { AddressInfo, Server, Socket, createServer } from 'node:net';
import { Pop3Client, Pop3ConnectBase, Pop3TooLargeError } from './pop3-client';

/** Answers a command line with raw bytes (status line and body, CRLFs included), or undefined for no answer. */
type Script = (line: string, socket: Socket) => string | Buffer | undefined;

interface Fake {
  server: Server;
  port: number;
  received: string[];
}

/** A tiny in-test POP3 server: greets, then answers each line as the script says (CAPA without STLS by default). */
async function fakeServer(script: Script, greeting: string | Buffer = '+OK fake ready\r\n'): Promise<Fake> {
  const received: string[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.write(greeting);
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      let nl: number;
      while ((nl = buffered.indexOf('\r\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        received.push(line);
        const answer = script(line, socket) ?? defaults(line);
        if (answer !== undefined && answer !== '') socket.write(answer);
        if (line === 'QUIT') socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, received };
}

function defaults(line: string): string | undefined {
  const cmd = line.split(' ')[0];
  if (cmd === 'CAPA') return '+OK\r\nUSER\r\nUIDL\r\nTOP\r\n.\r\n';
  if (cmd === 'USER' || cmd === 'PASS' || cmd === 'QUIT' || cmd === 'DELE' || cmd === 'NOOP') return '+OK\r\n';
  return '-ERR unknown\r\n';
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

async function connectTo(script: Script, over: Partial<Pop3ConnectBase> & { pass?: string; accessToken?: string } = {}, greeting?: string | Buffer): Promise<{ client: Pop3Client; fake: Fake }> {
  const fake = await fakeServer(script, greeting);
  servers.push(fake.server);
  const { pass = 'pw', accessToken, ...rest } = over;
  const credential = accessToken !== undefined ? { accessToken } : { pass };
  const client = await Pop3Client.connect({ host: '127.0.0.1', port: fake.port, secure: false, rejectUnauthorized: true, requireTls: false, user: 'alice', ...rest, ...credential });
  return { client, fake };
}

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('Pop3Client framing', () => {
  it('unstuffs dot-stuffed lines and keeps CRLF line ends and 8-bit bytes', async () => {
    const body = Buffer.concat([Buffer.from('+OK 40 octets\r\nSubject: x\r\n\r\n..leading dot\r\n...\r\n'), Buffer.from([0xe9, 0x0d, 0x0a]), Buffer.from('.\r\n')]);
    const { client } = await connectTo((line) => (line === 'RETR 1' ? body : undefined));
    const raw = await client.retr(1);
    expect(raw).toEqual(Buffer.concat([Buffer.from('Subject: x\r\n\r\n.leading dot\r\n..\r\n'), Buffer.from([0xe9, 0x0d, 0x0a])]));
    await client.quit();
  });

  it('reads an answer split across many TCP chunks, and a lone terminator inside a line is not the end', async () => {
    const { client } = await connectTo((line, socket) => {
      if (line !== 'UIDL') return undefined;
      const text = '+OK\r\n1 aaa\r\n2 b.\r\n3 ccc\r\n.\r\n';
      // One byte at a time, to split CRLF and the terminator.
      let i = 0;
      const tick = () => {
        if (i < text.length) socket.write(text[i++], () => setImmediate(tick));
      };
      tick();
      return '';
    });
    expect(await client.uidl()).toEqual([
      { msg: 1, uid: 'aaa' },
      { msg: 2, uid: 'b.' },
      { msg: 3, uid: 'ccc' },
    ]);
    client.close();
  });

  it('parses LIST and STAT, and an empty mailbox', async () => {
    const { client } = await connectTo((line) => {
      if (line === 'LIST') return '+OK 2 messages\r\n1 120\r\n2 3400\r\n.\r\n';
      if (line === 'STAT') return '+OK 2 3520\r\n';
      if (line === 'UIDL') return '+OK\r\n.\r\n';
      return undefined;
    });
    expect(await client.list()).toEqual([
      { msg: 1, size: 120 },
      { msg: 2, size: 3400 },
    ]);
    expect(await client.stat()).toEqual({ count: 2, size: 3520 });
    expect(await client.uidl()).toEqual([]);
    client.close();
  });

  it('a line longer than maxLineBytes fails the connection instead of buffering it', async () => {
    const { client } = await connectTo((line) => (line === 'RETR 1' ? '+OK\r\n' + 'x'.repeat(5000) + '\r\n.\r\n' : undefined), { maxLineBytes: 1024 });
    const err = await failureOf(client.retr(1));
    expect(err).toMatchObject({ code: 'EPOP3_LINE_TOO_LONG' });
    expect(client.closed).toBe(true);
  });

  it('a line without a line end longer than maxLineBytes fails too', async () => {
    const { client } = await connectTo((line) => (line === 'RETR 1' ? '+OK\r\n' + 'y'.repeat(5000) : undefined), { maxLineBytes: 1024 });
    expect(await failureOf(client.retr(1))).toMatchObject({ code: 'EPOP3_LINE_TOO_LONG' });
  });

  it('an answer past maxBytes fails with Pop3TooLargeError and closes the connection', async () => {
    const { client } = await connectTo((line) => (line === 'RETR 1' ? '+OK\r\n' + 'line of text\r\n'.repeat(100) + '.\r\n' : undefined));
    expect(await failureOf(client.retr(1, 500))).toBeInstanceOf(Pop3TooLargeError);
    expect(client.closed).toBe(true);
  });

  it('TOP sends the line count', async () => {
    const { client, fake } = await connectTo((line) => (line === 'TOP 2 0' ? '+OK\r\nSubject: hi\r\n\r\n.\r\n' : undefined));
    expect((await client.top(2, 0)).toString()).toBe('Subject: hi\r\n\r\n');
    expect(fake.received).toContain('TOP 2 0');
    client.close();
  });

  it('a -ERR answer throws with the server text and leaves the connection usable', async () => {
    const { client } = await connectTo((line) => (line === 'DELE 9' ? '-ERR no such message\r\n' : undefined));
    expect(await failureOf(client.dele(9))).toMatchObject({ code: 'EPOP3_ERR', response: 'no such message' });
    await client.noop();
    await client.quit();
  });

  it('a server that goes silent mid-answer is a timeout', async () => {
    const { client } = await connectTo((line) => (line === 'RETR 1' ? '+OK\r\npart of a message\r\n' : undefined), { idleTimeoutMs: 200 });
    const err = await failureOf(client.retr(1));
    expect(classifyConnectionError(err)).toBe('timeout');
  });

  it('a connection cut mid-answer is connection_failed', async () => {
    const { client } = await connectTo((line, socket) => {
      if (line !== 'RETR 1') return undefined;
      socket.end('+OK\r\nhalf\r\n');
      return '';
    });
    expect(classifyConnectionError(await failureOf(client.retr(1)))).toBe('connection_failed');
  });

  it('a garbage status line is a protocol error', async () => {
    const { client } = await connectTo((line) => (line === 'STAT' ? 'HELLO\r\n' : undefined));
    expect(classifyConnectionError(await failureOf(client.stat()))).toBe('protocol_error');
  });
});

describe('Pop3Client login', () => {
  it('PASS refused is auth_failed, and the password is not in the error', async () => {
    const err = await failureOf(connectTo((line) => (line.startsWith('PASS') ? '-ERR [AUTH] Authentication failed.\r\n' : undefined), { pass: 'sekrit-pass' }));
    expect(classifyConnectionError(err)).toBe('auth_failed');
    expect(String((err as Error).message)).not.toContain('sekrit-pass');
  });

  it('[IN-USE] (mailbox locked by another session) is not auth_failed', async () => {
    const err = await failureOf(connectTo((line) => (line.startsWith('PASS') ? '-ERR [IN-USE] Mailbox locked\r\n' : undefined)));
    expect(classifyConnectionError(err)).toBe('protocol_error');
  });

  it('a line break in the password is refused before anything is sent', async () => {
    const fake = await fakeServer(() => undefined);
    servers.push(fake.server);
    const err = await failureOf(Pop3Client.connect({ host: '127.0.0.1', port: fake.port, secure: false, rejectUnauthorized: true, requireTls: false, user: 'alice', pass: 'pw\r\nDELE 1' }));
    expect(err).toMatchObject({ code: 'EPOP3_BAD_ARGUMENT' });
    expect(fake.received).toEqual([]);
  });

  it('requireTls: a server without STLS gets no credentials (tls_failed)', async () => {
    const fake = await fakeServer(() => undefined);
    servers.push(fake.server);
    const err = await failureOf(Pop3Client.connect({ host: '127.0.0.1', port: fake.port, secure: false, rejectUnauthorized: true, requireTls: true, user: 'alice', pass: 'pw' }));
    expect(classifyConnectionError(err)).toBe('tls_failed');
    expect(fake.received.some((l) => l.startsWith('USER') || l.startsWith('PASS'))).toBe(false);
  });

  it('a server without CAPA (RFC 1939 only) is still usable when plain text is allowed', async () => {
    const { client, fake } = await connectTo((line) => (line === 'CAPA' ? '-ERR unknown command\r\n' : undefined));
    expect(client.capabilities.size).toBe(0);
    expect(fake.received).toContain('USER alice');
    client.close();
  });

  it('STLS refused by the server is tls_failed', async () => {
    const err = await failureOf(
      connectTo((line) => {
        if (line === 'CAPA') return '+OK\r\nSTLS\r\nUIDL\r\n.\r\n';
        if (line === 'STLS') return '-ERR not now\r\n';
        return undefined;
      }, { requireTls: true }),
    );
    expect(classifyConnectionError(err)).toBe('tls_failed');
  });

  it('bytes injected after the STLS answer are refused before the handshake (tls_failed)', async () => {
    const err = await failureOf(
      connectTo((line) => {
        if (line === 'CAPA') return '+OK\r\nSTLS\r\n.\r\n';
        if (line === 'STLS') return '+OK begin TLS\r\n+OK injected\r\n';
        return undefined;
      }, { requireTls: true }),
    );
    expect(classifyConnectionError(err)).toBe('tls_failed');
  });
});

describe('Pop3Client OAuth login (SASL, RFC 5034)', () => {
  const decoded = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
  const capa = (sasl: string) => (line: string) => (line === 'CAPA' ? `+OK\r\nUSER\r\nUIDL\r\n${sasl}\r\n.\r\n` : undefined);

  it('uses XOAUTH2 with an initial response where offered, and sends no USER/PASS', async () => {
    const offered = capa('SASL PLAIN XOAUTH2 OAUTHBEARER');
    const { client, fake } = await connectTo((line) => offered(line) ?? (line.startsWith('AUTH XOAUTH2 ') ? '+OK logged in\r\n' : undefined), { accessToken: 'tok-123' });
    const auth = fake.received.filter((l) => l.startsWith('AUTH'));
    expect(auth).toHaveLength(1);
    expect(decoded(auth[0].slice('AUTH XOAUTH2 '.length))).toBe('user=alice\u0001auth=Bearer tok-123\u0001\u0001');
    expect(fake.received.some((l) => l.startsWith('USER') || l.startsWith('PASS'))).toBe(false);
    client.close();
  });

  it('uses OAUTHBEARER (GS2 header with an escaped saslname) where only it is offered', async () => {
    const offered = capa('SASL PLAIN OAUTHBEARER');
    const { client, fake } = await connectTo((line) => offered(line) ?? (line.startsWith('AUTH OAUTHBEARER ') ? '+OK\r\n' : undefined), { user: 'a,b=c', accessToken: 'tok-9' });
    const auth = fake.received.find((l) => l.startsWith('AUTH'))!;
    expect(decoded(auth.slice('AUTH OAUTHBEARER '.length))).toBe('n,a=a=2Cb=3Dc,\u0001auth=Bearer tok-9\u0001\u0001');
    client.close();
  });

  it('sends a token too long for a 255-octet AUTH line after the server\'s empty challenge', async () => {
    const token = 'j'.repeat(900);
    const offered = capa('SASL XOAUTH2');
    const { client, fake } = await connectTo(
      (line) => offered(line) ?? (line === 'AUTH XOAUTH2' ? '+ \r\n' : line.startsWith('dXNlcj1') ? '+OK\r\n' : undefined),
      { accessToken: token },
    );
    const at = fake.received.indexOf('AUTH XOAUTH2');
    expect(at).toBeGreaterThan(-1);
    expect(decoded(fake.received[at + 1])).toBe(`user=alice\u0001auth=Bearer ${token}\u0001\u0001`);
    expect(fake.received.every((l) => l.length <= 253 || l === fake.received[at + 1])).toBe(true);
    client.close();
  });

  it('a refused token (error challenge, then -ERR) is auth_failed (EPOP3_AUTH), answered with an empty line, the token not in the error', async () => {
    const offered = capa('SASL XOAUTH2');
    const challenge = Buffer.from('{"status":"401","schemes":"bearer","scope":"mail"}').toString('base64');
    const err = await failureOf(
      connectTo((line) => offered(line) ?? (line.startsWith('AUTH XOAUTH2 ') ? `+ ${challenge}\r\n` : line === '' ? '-ERR [AUTH] Authentication failed.\r\n' : undefined), { accessToken: 'sekrit-token' }),
    );
    expect(classifyConnectionError(err)).toBe('auth_failed');
    expect(err).toMatchObject({ code: 'EPOP3_AUTH' });
    expect(String((err as Error).message)).not.toContain('sekrit-token');
  });

  it('OAUTHBEARER answers the error challenge with ^A (RFC 7628)', async () => {
    const offered = capa('SASL OAUTHBEARER');
    const fake = await fakeServer((line) => offered(line) ?? (line.startsWith('AUTH OAUTHBEARER ') ? '+ eyJzdGF0dXMiOiI0MDEifQ==\r\n' : line === 'AQ==' ? '-ERR [AUTH] Authentication failed.\r\n' : undefined));
    servers.push(fake.server);
    const err = await failureOf(Pop3Client.connect({ host: '127.0.0.1', port: fake.port, secure: false, rejectUnauthorized: true, requireTls: false, user: 'alice', accessToken: 'tok' }));
    expect(err).toMatchObject({ code: 'EPOP3_AUTH', authenticationFailed: true });
    expect(fake.received).toContain('AQ==');
  });

  it('a server whose SASL line has neither mechanism gets no token (auth_failed), and a line break in a token is refused before anything is sent', async () => {
    const offered = capa('SASL PLAIN LOGIN');
    const err = await failureOf(connectTo(offered, { accessToken: 'tok' }));
    expect(err).toMatchObject({ code: 'EPOP3_NO_OAUTH', authenticationFailed: true });
    const fake = await fakeServer(() => undefined);
    servers.push(fake.server);
    expect(await failureOf(Pop3Client.connect({ host: '127.0.0.1', port: fake.port, secure: false, rejectUnauthorized: true, requireTls: false, user: 'alice', accessToken: 'tok\r\nDELE 1' }))).toMatchObject({ code: 'EPOP3_BAD_ARGUMENT' });
    expect(fake.received).toEqual([]);
  });
});
