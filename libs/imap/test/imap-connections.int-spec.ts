import { PasswordCredentials } from '@pushmail/credentials';
import { MailHostPolicy, MailNetworkSettings, classifyConnectionError } from '@pushmail/net-policy';
import { TcpRelay, TcpStub, TestDovecot, freePort, tcpStub } from '@pushmail/testing';
import { ImapClientFactory, ImapLoginSettings } from '../src';

/**
 * Issue 14, IMAP side: what a failed connection looks like to users (a category), STARTTLS
 * required before credentials, and the connect-time host check on the address actually dialled.
 */
jest.setTimeout(30_000);

const factoryWith = (options: { allowPrivate?: boolean; allowInsecure?: boolean; allowlist?: string[]; resolver?: (host: string) => Promise<string[]>; perUserNamespaceHosts?: string[] } = {}) =>
  new ImapClientFactory(
    new MailNetworkSettings(new MailHostPolicy({ allowPrivate: options.allowPrivate ?? true, allowlist: options.allowlist ?? [], resolver: options.resolver }), options.allowInsecure ?? false),
    new PasswordCredentials(),
    new ImapLoginSettings(options.perUserNamespaceHosts),
  );

/** A plain-text IMAP server that never offers STARTTLS and records every line it gets. */
async function fakeImapServer(): Promise<TcpStub & { lines: string[] }> {
  const lines: string[] = [];
  const stub = await tcpStub((socket) => {
    socket.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n');
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      let nl: number;
      while ((nl = buffered.indexOf('\r\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        lines.push(line);
        const [tag, command] = line.split(' ');
        if (command?.toUpperCase() === 'CAPABILITY') socket.write('* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n');
        if (command?.toUpperCase() === 'LOGOUT') socket.end('* BYE\r\n' + `${tag} OK bye\r\n`);
        else if (tag) socket.write(`${tag} OK done\r\n`);
      }
    });
  });
  return { ...stub, lines };
}

const settings = (port: number, over: Record<string, unknown> = {}) => ({ host: '127.0.0.1', port, secure: false, user: 'alice@example.test', pass: 'imap-pass-conn', ...over });

/** Connects and returns the category of the failure (or 'ok'). */
async function outcome(factory: ImapClientFactory, s: ReturnType<typeof settings>, options = {}): Promise<string> {
  let client;
  try {
    client = await factory.create(s, options);
    await client.connect();
    await client.logout();
    return 'ok';
  } catch (err) {
    client?.close();
    return classifyConnectionError(err);
  }
}

describe('IMAP connections (ImapClientFactory)', () => {
  let dovecot: TestDovecot;
  beforeAll(async () => {
    // carol's namespace is her own (Courier style: her folders are INBOX/Sent, INBOX/Drafts…).
    dovecot = await TestDovecot.start({
      users: { 'alice@example.test': 'imap-pass-conn', 'carol@example.test': 'imap-pass-conn' },
      userFields: { 'carol@example.test': 'userdb_namespace/inbox/prefix=INBOX/' },
    });
  });
  afterAll(async () => {
    await dovecot?.dispose();
  });

  describe('failure categories', () => {
    it('a closed port is connection_failed', async () => {
      expect(await outcome(factoryWith({ allowInsecure: true }), settings(await freePort()))).toBe('connection_failed');
    });

    it('a TCP server that never greets is timeout', async () => {
      const silent = await tcpStub();
      try {
        expect(await outcome(factoryWith({ allowInsecure: true }), settings(silent.port), { greetingTimeout: 300 })).toBe('timeout');
      } finally {
        await silent.close();
      }
    });

    it('a wrong password is auth_failed, the right one connects', async () => {
      const factory = factoryWith({ allowInsecure: true });
      expect(await outcome(factory, { ...dovecot.imapSettings('alice@example.test'), pass: 'wrong' })).toBe('auth_failed');
      expect(await outcome(factory, dovecot.imapSettings('alice@example.test'))).toBe('ok');
    });

    it('TLS to a plain-text server is tls_failed', async () => {
      expect(await outcome(factoryWith({ allowInsecure: true }), { ...dovecot.imapSettings('alice@example.test'), secure: true })).toBe('tls_failed');
    });
  });

  describe('STARTTLS required on ports that are not secure', () => {
    it('a server without STARTTLS fails with tls_failed and never receives credentials', async () => {
      const fake = await fakeImapServer();
      try {
        expect(await outcome(factoryWith(), settings(fake.port))).toBe('tls_failed');
        expect(fake.connections()).toBe(1);
        expect(fake.lines.filter((l) => /^\S+ (LOGIN|AUTHENTICATE)\b/i.test(l))).toEqual([]);
        expect(fake.lines.join('\n')).not.toContain('imap-pass-conn');
      } finally {
        await fake.close();
      }
    });

    it('ALLOW_INSECURE_MAIL=true lets it log in in plain text (what the check above prevents)', async () => {
      const fake = await fakeImapServer();
      try {
        expect(await outcome(factoryWith({ allowInsecure: true }), settings(fake.port))).toBe('ok');
        expect(fake.lines.some((l) => /^\S+ (LOGIN|AUTHENTICATE)\b/i.test(l))).toBe(true);
      } finally {
        await fake.close();
      }
    });
  });

  describe('the host check at connect time', () => {
    it('refuses a name that now resolves to loopback (DNS rebinding) before dialling it', async () => {
      const fake = await fakeImapServer();
      try {
        const answers: Record<string, string[]> = { 'rebind.example.com': ['93.184.216.34'] };
        const factory = factoryWith({ allowPrivate: false, allowInsecure: true, resolver: async (host) => answers[host] });
        // Accepted when the account was saved…
        await expect(factoryWith({ allowPrivate: false, resolver: async (host) => answers[host] }).connectionOptions(settings(fake.port, { host: 'rebind.example.com' }))).resolves.toMatchObject({ host: '93.184.216.34' });
        // …then the name is re-pointed at the server's own loopback.
        answers['rebind.example.com'] = ['127.0.0.1'];
        expect(await outcome(factory, settings(fake.port, { host: 'rebind.example.com' }))).toBe('host_not_allowed');
        expect(await outcome(factory, settings(fake.port, { host: '127.0.0.1' }))).toBe('host_not_allowed');
        expect(fake.connections()).toBe(0);
      } finally {
        await fake.close();
      }
    });

    it('dials the checked address and keeps the host name for TLS', async () => {
      // The name resolves (through the injected resolver) to the test Dovecot's loopback address,
      // allowed by name: the connection reaches the IP, not whatever the system resolver says.
      const factory = factoryWith({ allowPrivate: false, allowInsecure: true, allowlist: ['mail.pushmail-test.invalid'], resolver: async () => ['127.0.0.1'] });
      const options = await factory.connectionOptions({ ...dovecot.imapSettings('alice@example.test'), host: 'mail.pushmail-test.invalid' });
      expect(options).toMatchObject({ host: '127.0.0.1', servername: 'mail.pushmail-test.invalid', tls: { servername: 'mail.pushmail-test.invalid' } });
      expect(await outcome(factory, { ...dovecot.imapSettings('alice@example.test'), host: 'mail.pushmail-test.invalid' })).toBe('ok');
    });
  });
  describe('round trips of a login', () => {
    it('logs in with LOGIN (one round trip, not AUTHENTICATE and its continuation) and sends ID once, after the login', async () => {
      const relay = await TcpRelay.start(dovecot.imapPort);
      try {
        const client = await factoryWith({ allowInsecure: true }).create({ ...dovecot.imapSettings('alice@example.test'), port: relay.port });
        await client.connect();
        await client.mailboxOpen('INBOX');
        await client.logout();
        // Was: ID, AUTHENTICATE, its '+' answer, ID, NAMESPACE, … (LIST and LSUB are imapflow's
        // before a first SELECT; the fetcher's pool and INBOX-only watcher sessions skip them, see skipListBeforeSelect).
        expect(relay.commands).toEqual(['LOGIN', 'ID', 'NAMESPACE', 'ENABLE', 'LIST', 'LSUB', 'SELECT', 'LOGOUT']);
      } finally {
        await relay.close();
      }
    });

    it('skips ID and NAMESPACE on later logins to the same Dovecot, leaving the client as the server would', async () => {
      const relay = await TcpRelay.start(dovecot.imapPort);
      const factory = factoryWith({ allowInsecure: true });
      const login = async () => {
        const client = await factory.create({ ...dovecot.imapSettings('alice@example.test'), port: relay.port });
        await client.connect();
        const seen = { serverInfo: client.serverInfo, namespaces: client.namespaces, namespace: client.namespace };
        // Paths go through the namespace (prefix, delimiter): a folder is created where it was before.
        expect((await client.mailboxCreate(['Learnt', 'Child'])).path).toBe('Learnt/Child');
        await client.mailboxDelete('Learnt/Child');
        await client.logout();
        return seen;
      };
      try {
        const first = await login();
        expect(relay.commands.slice(0, 3)).toEqual(['LOGIN', 'ID', 'NAMESPACE']);
        expect(first.serverInfo).toMatchObject({ name: 'Dovecot' });
        relay.commands.length = 0;
        const second = await login();
        expect(relay.commands).toEqual(['LOGIN', 'ENABLE', 'CREATE', 'SUBSCRIBE', 'DELETE', 'LOGOUT']);
        expect(second).toEqual(first);
        // Another factory (another process) learns on its own first login.
        relay.commands.length = 0;
        const other = await factoryWith({ allowInsecure: true }).create({ ...dovecot.imapSettings('alice@example.test'), port: relay.port });
        await other.connect();
        await other.logout();
        expect(relay.commands.slice(0, 3)).toEqual(['LOGIN', 'ID', 'NAMESPACE']);
      } finally {
        await relay.close();
      }
    });
    it('asks NAMESPACE at every login to a host named in IMAP_PER_USER_NAMESPACE_HOSTS, so each user opens their own folders', async () => {
      const relay = await TcpRelay.start(dovecot.imapPort);
      /** carol logs in first and teaches the factory her namespace; then alice opens her Sent. */
      const carolThenAlice = async (factory: ImapClientFactory) => {
        const carol = await factory.create({ ...dovecot.imapSettings('carol@example.test'), port: relay.port });
        await carol.connect();
        expect(carol.namespace).toEqual({ prefix: 'INBOX/', delimiter: '/' });
        await carol.logout();
        relay.commands.length = 0;
        const alice = await factory.create({ ...dovecot.imapSettings('alice@example.test'), port: relay.port });
        await alice.connect();
        const namespace = alice.namespace;
        const sent = await alice.mailboxOpen('Sent').then(
          (box) => box.path,
          // The checks the fetcher's pool makes (MailboxNotFoundError).
          (err: { mailboxMissing?: boolean; serverResponseCode?: string }) => (err.mailboxMissing || err.serverResponseCode === 'NONEXISTENT' ? 'missing' : String(err)),
        );
        await alice.logout();
        return { namespace, sent, commands: relay.commands.slice(0, 2) };
      };
      try {
        // By default alice gets carol's prefix, and imapflow asks for INBOX/Sent, which she has not:
        // what the setting is for.
        expect(await carolThenAlice(factoryWith({ allowInsecure: true }))).toEqual({ namespace: { prefix: 'INBOX/', delimiter: '/' }, sent: 'missing', commands: ['LOGIN', 'ENABLE'] });
        // Named (as accounts name the host), alice's login asks NAMESPACE (still not ID) and gets her own.
        expect(await carolThenAlice(factoryWith({ allowInsecure: true, perUserNamespaceHosts: ['127.0.0.1'] }))).toEqual({ namespace: { prefix: '', delimiter: '/' }, sent: 'Sent', commands: ['LOGIN', 'NAMESPACE'] });
      } finally {
        await relay.close();
      }
    });
  });
});
