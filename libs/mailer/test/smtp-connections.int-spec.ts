import { PasswordCredentials } from '@pushmail/credentials';
import { MailHostPolicy, MailNetworkSettings } from '@pushmail/net-policy';
import { SmtpSink, freePort } from '@pushmail/testing';
import { AddressInfo, Server, Socket, createServer } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { SmtpMailer, smtpErrorCode } from '../src';

/**
 * Issue 14, SMTP side: STARTTLS required before credentials, no unauthenticated relaying through
 * a server that offers no AUTH, failures as categories, and the connect-time host check.
 */
jest.setTimeout(30_000);

const mailerWith = (options: { allowPrivate?: boolean; allowInsecure?: boolean; resolver?: (host: string) => Promise<string[]> } = {}) =>
  new SmtpMailer(new MailNetworkSettings(new MailHostPolicy({ allowPrivate: options.allowPrivate ?? true, allowlist: [], resolver: options.resolver }), options.allowInsecure ?? false), new PasswordCredentials());

const settings = (port: number, over: Record<string, unknown> = {}) => ({ host: '127.0.0.1', port, secure: false, user: 'sender', pass: 'smtp-pass-conn', ...over });
const envelope = { from: 'alice@example.test', to: ['bob@example.test'] };
const raw = Buffer.from('From: alice@example.test\r\nTo: bob@example.test\r\nSubject: policy\r\n\r\nhello\r\n');

/** Sends one message with a fresh mailer; the error's client-facing code, or 'sent'. */
async function attempt(mailer: SmtpMailer, s: ReturnType<typeof settings>): Promise<string> {
  try {
    await mailer.send({ id: 'acc_test', protocol: 'imap' }, s, envelope, raw);
    return 'sent';
  } catch (err) {
    return smtpErrorCode(err);
  } finally {
    mailer.onModuleDestroy();
  }
}

/** A plain-text SMTP server that offers AUTH but no STARTTLS, records every line and accepts anything. */
async function fakeSmtpServer(): Promise<{ server: Server; port: number; lines: string[] }> {
  const lines: string[] = [];
  const server = createServer((socket: Socket) => {
    socket.on('error', () => undefined);
    socket.write('220 fake ESMTP\r\n');
    let inData = false;
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      let nl: number;
      while ((nl = buffered.indexOf('\r\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        lines.push(line);
        if (inData) {
          if (line === '.') {
            inData = false;
            socket.write('250 queued\r\n');
          }
          continue;
        }
        const verb = line.split(' ')[0].toUpperCase();
        if (verb === 'EHLO') socket.write('250-fake\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n');
        else if (verb === 'STARTTLS') socket.write('502 5.5.1 not offered\r\n');
        else if (verb === 'AUTH') socket.write('235 2.7.0 ok\r\n');
        else if (verb === 'DATA') {
          inData = true;
          socket.write('354 go\r\n');
        } else if (verb === 'QUIT') socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, lines };
}

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

describe('SMTP connections (SmtpMailer)', () => {
  describe('STARTTLS required on ports that are not secure', () => {
    it('a server without STARTTLS gets no AUTH and no mail: tls_failed', async () => {
      const fake = await fakeSmtpServer();
      try {
        expect(await attempt(mailerWith(), settings(fake.port))).toBe('tls_failed');
        expect(fake.lines.filter((l) => /^(AUTH|MAIL FROM)/i.test(l))).toEqual([]);
        expect(fake.lines.join('\n')).not.toContain(Buffer.from('smtp-pass-conn').toString('base64').slice(0, 12));
      } finally {
        await closeServer(fake.server);
      }
    });

    it('ALLOW_INSECURE_MAIL=true authenticates and sends in plain text (what the check above prevents)', async () => {
      const fake = await fakeSmtpServer();
      try {
        expect(await attempt(mailerWith({ allowInsecure: true }), settings(fake.port))).toBe('sent');
        expect(fake.lines.some((l) => /^AUTH PLAIN /i.test(l))).toBe(true);
      } finally {
        await closeServer(fake.server);
      }
    });
  });

  describe('no send without AUTH', () => {
    it('a server that offers no AUTH receives no mail: protocol_error', async () => {
      let mailFrom = 0;
      let data = 0;
      const open = new SMTPServer({
        authOptional: true,
        disabledCommands: ['STARTTLS', 'AUTH'],
        logger: false,
        onMailFrom: (_a, _s, cb) => {
          mailFrom++;
          cb();
        },
        onData: (stream, _s, cb) => {
          data++;
          stream.resume();
          stream.on('end', () => cb());
        },
      });
      await new Promise<void>((resolve) => open.listen(0, '127.0.0.1', resolve));
      try {
        const port = (open.server.address() as AddressInfo).port;
        expect(await attempt(mailerWith({ allowInsecure: true }), settings(port))).toBe('protocol_error');
        expect({ mailFrom, data }).toEqual({ mailFrom: 0, data: 0 });
      } finally {
        await new Promise<void>((resolve) => open.close(() => resolve()));
      }
    });

    it.each([['PLAIN'], ['LOGIN']])('authenticates with %s where the server offers it, and sends', async (method) => {
      const sink = await SmtpSink.start({ auth: { user: 'sender', pass: 'smtp-pass-conn' } });
      // SmtpSink offers PLAIN and LOGIN; a server offering only LOGIN is made from smtp-server directly.
      const only = method === 'LOGIN' ? new SMTPServer({ authMethods: ['LOGIN'], allowInsecureAuth: true, disabledCommands: ['STARTTLS'], logger: false, onAuth: (a, _s, cb) => cb(a.password === 'smtp-pass-conn' ? null : new Error('no'), { user: a.username }), onData: (s, _x, cb) => { s.resume(); s.on('end', () => cb()); } }) : undefined;
      if (only) await new Promise<void>((resolve) => only.listen(0, '127.0.0.1', resolve));
      try {
        const port = only ? (only.server.address() as AddressInfo).port : sink.port;
        expect(await attempt(mailerWith({ allowInsecure: true }), settings(port))).toBe('sent');
        if (!only) expect(sink.received.map((m) => m.user)).toEqual(['sender']);
        expect(await attempt(mailerWith({ allowInsecure: true }), settings(port, { pass: 'wrong' }))).toBe('auth_failed');
      } finally {
        if (only) await new Promise<void>((resolve) => only.close(() => resolve()));
        await sink.stop();
      }
    });
  });

  describe('failure categories and the host check', () => {
    it('a closed port is connection_failed, TLS to a plain server tls_failed', async () => {
      expect(await attempt(mailerWith({ allowInsecure: true }), settings(await freePort()))).toBe('connection_failed');
      const sink = await SmtpSink.start();
      try {
        expect(await attempt(mailerWith({ allowInsecure: true }), settings(sink.port, { secure: true }))).toBe('tls_failed');
      } finally {
        await sink.stop();
      }
    });

    it('refuses a host that resolves to loopback when it is dialled (DNS rebinding): host_not_allowed, nothing sent', async () => {
      const sink = await SmtpSink.start();
      try {
        const mailer = mailerWith({ allowPrivate: false, allowInsecure: true, resolver: async () => ['127.0.0.1'] });
        expect(await attempt(mailer, settings(sink.port, { host: 'rebind.example.com' }))).toBe('host_not_allowed');
        expect(sink.attempts + sink.authAttempts).toBe(0);
      } finally {
        await sink.stop();
      }
    });
  });
});
