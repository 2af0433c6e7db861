import { PasswordCredentials } from '@pushmail/credentials';
import { MailHostPolicy, MailNetworkSettings, classifyConnectionError } from '@pushmail/net-policy';
import { TestDovecot } from '@pushmail/testing';
import { AddressInfo, createServer } from 'node:net';
import { Pop3ClientFactory, Pop3ServerSettings } from '../src';

/** The POP3 client against the harness's real Dovecot POP3 (plain text on loopback, no STLS offered). */
jest.setTimeout(30_000);

const USER = 'pop@example.test';
const PASS = 'pop3-pass-int';

const factoryWith = (options: { allowPrivate?: boolean; allowInsecure?: boolean } = {}) =>
  new Pop3ClientFactory(new MailNetworkSettings(new MailHostPolicy({ allowPrivate: options.allowPrivate ?? true, allowlist: [] }), options.allowInsecure ?? true), new PasswordCredentials());

describe('Pop3Client against Dovecot', () => {
  let dovecot: TestDovecot;
  let settings: Pop3ServerSettings;
  beforeAll(async () => {
    dovecot = await TestDovecot.start({ users: { [USER]: PASS, 'other@example.test': 'other-pass' } });
    settings = dovecot.pop3Settings(USER);
    for (let i = 1; i <= 3; i++) await dovecot.deliver(USER, { subject: `pop ${i}`, text: `.dot line ${i}\nbody ${i}` });
  });
  afterAll(async () => {
    await dovecot?.dispose();
  });

  it('lists, reads whole messages and headers, with stable UIDLs across sessions', async () => {
    const client = await factoryWith().connect(settings);
    const uidl = await client.uidl();
    const list = await client.list();
    expect(uidl.map((u) => u.msg)).toEqual([1, 2, 3]);
    expect(list.map((l) => l.msg)).toEqual([1, 2, 3]);
    const raw = await client.retr(2);
    expect(raw.length).toBe(list[1].size);
    expect(raw.toString()).toContain('Subject: pop 2');
    // Dot-stuffed on the wire, unstuffed here.
    expect(raw.toString()).toContain('\r\n.dot line 2\r\n');
    const head = (await client.top(2, 0)).toString();
    expect(head).toContain('Subject: pop 2');
    expect(head).not.toContain('body 2');
    await client.quit();

    const again = await factoryWith().connect(settings);
    expect(await again.uidl()).toEqual(uidl);
    await again.quit();
  });

  it('DELE removes a message only once the session ends with QUIT', async () => {
    await dovecot.deliver('other@example.test', { subject: 'to delete' });
    const otherSettings = dovecot.pop3Settings('other@example.test');
    const first = await factoryWith().connect(otherSettings);
    expect(await first.uidl()).toHaveLength(1);
    await first.dele(1);
    first.close(); // no QUIT: the deletion is not committed
    const second = await factoryWith().connect(otherSettings);
    expect(await second.uidl()).toHaveLength(1);
    await second.dele(1);
    await second.quit();
    const third = await factoryWith().connect(otherSettings);
    expect(await third.uidl()).toEqual([]);
    await third.quit();
  });

  it('a wrong password is auth_failed', async () => {
    let err: unknown;
    await factoryWith()
      .connect({ ...settings, pass: 'wrong' })
      .catch((e) => (err = e));
    expect(classifyConnectionError(err)).toBe('auth_failed');
  });

  it('STLS is required unless ALLOW_INSECURE_MAIL: this Dovecot offers none, so no login happens', async () => {
    let err: unknown;
    await factoryWith({ allowInsecure: false })
      .connect(settings)
      .catch((e) => (err = e));
    expect(classifyConnectionError(err)).toBe('tls_failed');
    expect(dovecot.logs()).not.toMatch(/pop3-login: Login: user=<pop@example.test>.*TLS/);
  });

  it('a loopback host is refused at connect time without being dialled', async () => {
    let connections = 0;
    const listener = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    let err: unknown;
    await factoryWith({ allowPrivate: false })
      .connect({ ...settings, port: (listener.address() as AddressInfo).port })
      .catch((e) => (err = e));
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    expect(classifyConnectionError(err)).toBe('host_not_allowed');
    expect(connections).toBe(0);
  });
});
