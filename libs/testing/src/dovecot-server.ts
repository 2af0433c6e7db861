import { ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { createTransport } from 'nodemailer';
import { captureOutput, freePorts, spawnTracked, startOnFreePorts, stopProcess, waitFor, WaitAborted } from './processes';

export interface DovecotOptions {
  users?: Record<string, string>;
  /** Replaces the capability list sent after login, e.g. to hide IDLE and force polling. */
  imapCapability?: string;
  /** Raw config lines appended to the generated config. */
  extraConfig?: string;
  /**
   * Load the shipped push_notification Lua script (deploy/dovecot/pushmail-notify.lua) for LMTP and
   * IMAP, posting every new message to `url` (a watcher's POST /api/notify/dovecot) with `secret`.
   */
  pushNotify?: { url: string; secret: string };
  /**
   * Accept XOAUTH2 / OAUTHBEARER, validating each token at this RFC 7662 introspection URL (see
   * TestOAuthServer.introspectionUrl) before the passwd-file passdb; passwords keep working.
   */
  oauth2?: { introspectionUrl: string };
  /**
   * passwd-file extra fields by user, e.g. `userdb_namespace/inbox/prefix=INBOX/`: a namespace of
   * that user's own (verified on Dovecot 2.3.19 with the template's static userdb).
   */
  userFields?: Record<string, string>;
}

export interface DeliverableMessage {
  from?: string;
  subject?: string;
  text?: string;
  html?: string;
  messageId?: string;
  headers?: Record<string, string>;
}

const TEMPLATE = readFileSync(join(__dirname, 'dovecot.conf.template'), 'utf8');
/** The script operators deploy, not a copy: the tests exercise what ships. */
export const PUSHMAIL_NOTIFY_LUA = join(__dirname, '../../../deploy/dovecot/pushmail-notify.lua');

/** Verified on Dovecot 2.3.19: the Lua driver loads only with mail_lua listed before it. */
function pushNotifyConfig({ url, secret }: { url: string; secret: string }): string {
  return [
    'mail_plugins = $mail_plugins mail_lua notify push_notification push_notification_lua',
    'plugin {',
    `  push_notification_driver = lua:file=${PUSHMAIL_NOTIFY_LUA}`,
    `  pushmail_notify_url = ${url}`,
    `  pushmail_notify_secret = ${secret}`,
    '}',
  ].join('\n');
}
/** Mail is stored as uid/gid 1000 (Dovecot refuses uid 0); see the template. */
const MAIL_UID = 1000;

/**
 * A private Dovecot (IMAP, POP3, LMTP) on free loopback ports, configured from the verified template
 * in a short temp dir (UNIX socket paths break past ~100 characters).
 */
export class TestDovecot {
  private child?: ChildProcess;
  private output?: { text: () => string };
  readonly users = new Map<string, string>();

  private constructor(
    readonly dir: string,
    readonly imapPort: number,
    readonly pop3Port: number,
    readonly lmtpPort: number,
    private options: DovecotOptions,
  ) {}

  static async start(options: DovecotOptions = {}): Promise<TestDovecot> {
    return startOnFreePorts(3, async () => {
      const dir = mkdtempSync('/tmp/pmd-');
      // mkdtemp makes the dir 0700; the mail user (uid 1000) must be able to traverse it.
      chmodSync(dir, 0o755);
      const [imapPort, pop3Port, lmtpPort] = await freePorts(3);
      const dovecot = new TestDovecot(dir, imapPort, pop3Port, lmtpPort, options);
      for (const sub of ['run', 'state', 'log', 'mail']) mkdirSync(join(dir, sub), { recursive: true });
      chownSync(join(dir, 'mail'), MAIL_UID, MAIL_UID);
      for (const [user, pass] of Object.entries(options.users ?? {})) dovecot.users.set(user, pass);
      dovecot.writeUsers();
      dovecot.writeConfig();
      try {
        await dovecot.startProcess();
      } catch (err) {
        await dovecot.dispose();
        throw err;
      }
      return dovecot;
    });
  }

  get configPath(): string {
    return join(this.dir, 'dovecot.conf');
  }

  get logPath(): string {
    return join(this.dir, 'log', 'dovecot.log');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Settings in the shape of the contract's `imap` object. */
  imapSettings(user: string, pass = this.users.get(user) ?? '') {
    return { host: '127.0.0.1', port: this.imapPort, secure: false, user, pass };
  }

  /** Settings in the shape of the contract's `pop3` object. */
  pop3Settings(user: string, pass = this.users.get(user) ?? '') {
    return { host: '127.0.0.1', port: this.pop3Port, secure: false, user, pass };
  }

  /**
   * Adds users to a running server. Dovecot re-reads passwd-file when it changes but checks at
   * most once a second, so this waits until the first new user can log in.
   */
  async addUsers(users: Record<string, string>): Promise<void> {
    for (const [user, pass] of Object.entries(users)) this.users.set(user, pass);
    this.writeUsers();
    const [probe] = Object.keys(users);
    if (!probe) return;
    await waitFor(async () => {
      const client = await this.imap(probe);
      await client.logout();
      return true;
    }, 5000, `user ${probe} to become known to Dovecot`, 200);
  }

  addUser(user: string, pass: string): Promise<void> {
    return this.addUsers({ [user]: pass });
  }

  /**
   * Delivers like an MTA does: over LMTP, acknowledged once Dovecot has stored it. Resolves only on
   * the recipient's own 2xx reply after DATA; any other reply rejects.
   */
  async deliver(user: string, message: string | Buffer | DeliverableMessage): Promise<void> {
    const transport = createTransport({ host: '127.0.0.1', port: this.lmtpPort, lmtp: true } as never);
    try {
      const envelope = { from: 'sender@example.test', to: [user] };
      let info: { accepted?: unknown[]; rejected?: unknown[]; rejectedErrors?: Array<Error & { response?: string }>; response?: string };
      if (typeof message === 'string' || Buffer.isBuffer(message)) {
        info = await transport.sendMail({ envelope, raw: message });
      } else {
        info = await transport.sendMail({
          envelope,
          from: message.from ?? 'Sender <sender@example.test>',
          to: user,
          subject: message.subject ?? 'test',
          text: message.text ?? 'hello',
          html: message.html,
          messageId: message.messageId,
          headers: message.headers,
        });
      }
      // LMTP answers DATA once per recipient, and nodemailer resolves sendMail even when that
      // answer is a failure (e.g. Dovecot's "421 4.3.2 Shutting down" while it restarts): it only
      // moves the recipient to `rejected`. Counting that as stored made the chaos test report an
      // acknowledged message that Dovecot never had.
      if (!info.accepted?.length || info.rejected?.length) {
        throw new Error(`LMTP delivery to ${user} not acknowledged: ${info.rejectedErrors?.map((e) => e.response ?? e.message).join('; ') || info.response || 'no 2xx reply'}`);
      }
    } finally {
      transport.close();
    }
  }

  /** A logged-in imapflow client for assertions; the caller logs out. */
  async imap(user: string, options: Partial<ConstructorParameters<typeof ImapFlow>[0]> = {}): Promise<ImapFlow> {
    const client = new ImapFlow({ ...this.imapSettings(user), auth: { user, pass: this.users.get(user) ?? '' }, logger: false, ...options } as never);
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  /** Appends a raw message to a mailbox over IMAP (as another client would). */
  async append(user: string, mailbox: string, raw: string | Buffer, flags: string[] = []): Promise<{ uid?: number; uidValidity?: bigint }> {
    const client = await this.imap(user);
    try {
      const res = await client.append(mailbox, raw, flags);
      return res ? { uid: res.uid, uidValidity: res.uidValidity } : {};
    } finally {
      await client.logout().catch(() => undefined);
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child) await stopProcess(this.child, signal, 8000);
    this.child = undefined;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.startProcess();
  }

  /**
   * Restarts with another post-login capability list (`undefined`: Dovecot's own), same users,
   * mail and ports: the server stops (or starts) advertising an extension such as NOTIFY, as a
   * deployment's would after an upgrade or a config change. Sessions are dropped, as by {@link restart}.
   */
  async restartWithCapability(imapCapability: string | undefined): Promise<void> {
    await this.stop();
    this.options = { ...this.options, imapCapability };
    this.writeConfig();
    await this.startProcess();
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  logs(): string {
    let file = '';
    try {
      file = readFileSync(this.logPath, 'utf8');
    } catch {
      // not written yet
    }
    return (this.output?.text() ?? '') + file;
  }

  private writeUsers(): void {
    const lines = [...this.users].map(([u, p]) => `${u}:{PLAIN}${p}::::::${this.options.userFields?.[u] ?? ''}`);
    // Write-then-rename gives a new inode, so Dovecot's passwd-file cache notices even within the same second.
    const tmp = join(this.dir, `users.${process.pid}.tmp`);
    writeFileSync(tmp, lines.join('\n') + '\n', { mode: 0o644 });
    renameSync(tmp, join(this.dir, 'users'));
  }

  private writeConfig(): void {
    const extra = [
      this.options.imapCapability ? `imap_capability = ${this.options.imapCapability}` : '',
      this.options.oauth2 ? 'auth_mechanisms = plain login xoauth2 oauthbearer' : '',
      this.options.pushNotify ? pushNotifyConfig(this.options.pushNotify) : '',
      this.options.extraConfig ?? '',
    ].join('\n');
    let passdbFirst = '';
    if (this.options.oauth2) {
      // Verified on Dovecot 2.3.19: a valid token logs in, a forged or expired one is refused at
      // login (force_introspection: every login asks the introspection endpoint, no local JWT check).
      const file = join(this.dir, 'oauth2.conf');
      writeFileSync(
        file,
        [
          'introspection_mode = post',
          `introspection_url = ${this.options.oauth2.introspectionUrl}`,
          'username_attribute = username',
          'active_attribute = active',
          'active_value = true',
          'force_introspection = yes',
        ].join('\n') + '\n',
        { mode: 0o644 },
      );
      passdbFirst = `passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = ${file}\n}`;
    }
    const conf = TEMPLATE.replaceAll('@DIR@', this.dir)
      .replace('@PASSDB_FIRST@', passdbFirst)
      .replaceAll('@IMAP_PORT@', String(this.imapPort))
      .replaceAll('@POP3_PORT@', String(this.pop3Port))
      .replaceAll('@LMTP_PORT@', String(this.lmtpPort))
      .replaceAll('@INSTANCE@', `pm${this.imapPort}`)
      .replace('@EXTRA@', extra);
    writeFileSync(this.configPath, conf);
  }

  private async startProcess(): Promise<void> {
    this.child = spawnTracked('dovecot', ['-F', '-c', this.configPath]);
    this.output = captureOutput(this.child);
    // A TCP connect succeeds before Dovecot can serve; only the greeting means ready.
    await waitFor(async () => {
      if (this.child?.exitCode !== null && this.child?.exitCode !== undefined) throw new WaitAborted(`dovecot exited: ${this.logs()}`);
      return greets(this.imapPort);
    }, 15_000, 'the Dovecot IMAP greeting', 50);
  }
}

function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (d) => done(d.toString().startsWith('* OK')));
  });
}
