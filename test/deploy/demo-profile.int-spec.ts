import { verifyClientToken } from '@pushmail/auth';
import { AppProcess, REPO_ROOT, TestRedis, freePort, spawnTracked, stopProcess, testEnv, waitFor } from '@pushmail/testing';
import { ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';

const DEMO = join(REPO_ROOT, 'deploy/demo');
const USER = 'demo@example.test';
const PASSWORD = readFileSync(join(DEMO, 'users'), 'utf8').split(':')[1].replace('{PLAIN}', '');

/**
 * The compose `demo` profile, minus Docker: the demo Dovecot config as the image installs it
 * (only paths and ports moved to a private directory), and the mail generator from deploy/demo.
 */
describe('docker compose demo profile: Dovecot config and mail generator', () => {
  let dir: string;
  let imapPort: number;
  let lmtpPort: number;
  let dovecot: ChildProcess;

  beforeAll(async () => {
    dir = mkdtempSync('/tmp/pmdemo-');
    chmodSync(dir, 0o755);
    for (const sub of ['run', 'state', 'mail']) mkdirSync(join(dir, sub));
    chownSync(join(dir, 'mail'), 1000, 1000);
    copyFileSync(join(DEMO, 'users'), join(dir, 'users'));
    imapPort = await freePort();
    lmtpPort = await freePort();
    const config = readFileSync(join(DEMO, 'dovecot.conf'), 'utf8')
      .replace('listen = *', 'listen = 127.0.0.1')
      .replace(/port = 143$/m, `port = ${imapPort}`)
      .replace(/port = 24$/m, `port = ${lmtpPort}`)
      .replace('/etc/dovecot/users', join(dir, 'users'))
      .replace('/etc/dovecot/pushmail-notify.lua', join(REPO_ROOT, 'deploy/dovecot/pushmail-notify.lua'))
      .replace('/srv/mail', join(dir, 'mail'))
      // Docker gives a pipe; Node's child_process gives a socket, which /dev/std* cannot open.
      .replace(/^(info_)?log_path = \/dev\/std(out|err)$/gm, (_, info) => `${info ?? ''}log_path = ${join(dir, 'dovecot.log')}`);
    expect(config).not.toMatch(/\/etc\/dovecot|\/srv\/mail|\/dev\/std|port = (143|24)$/m);
    writeFileSync(join(dir, 'dovecot.conf'), `base_dir = ${dir}/run\nstate_dir = ${dir}/state\ninstance_name = pmdemo-${imapPort}\n${config}`);
    dovecot = spawnTracked('dovecot', ['-F', '-c', join(dir, 'dovecot.conf')]);
    await waitFor(() => greeting(imapPort), 10_000, 'demo Dovecot IMAP greeting', 100);
  }, 30_000);

  afterAll(async () => {
    if (dovecot) await stopProcess(dovecot);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const runMailgen = (env: Record<string, string>) => {
    const child = spawnTracked(process.execPath, [join(DEMO, 'mailgen.js')], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, LMTP_HOST: '127.0.0.1', LMTP_PORT: String(lmtpPort), MAILGEN_INTERVAL_MS: '20', MAILGEN_HEARTBEAT_FILE: join(dir, 'alive'), ...env },
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.stderr!.on('data', (d: Buffer) => (out += d));
    return new Promise<{ code: number | null; lines: Array<Record<string, string>> }>((resolve) =>
      child.once('exit', (code) => resolve({ code, lines: out.trim().split('\n').filter(Boolean).map((l) => (l.startsWith('{') ? JSON.parse(l) : { raw: l })) })),
    );
  };

  it('the generator delivers over LMTP to the demo user, who reads them over IMAP with the demo password', async () => {
    const { code, lines } = await runMailgen({ MAILGEN_COUNT: '3' });
    expect(code).toBe(0);
    expect(lines.filter((l) => l.msg === 'delivered')).toHaveLength(3);
    expect(existsSync(join(dir, 'alive'))).toBe(true);
    const imap = new ImapFlow({ host: '127.0.0.1', port: imapPort, secure: false, auth: { user: USER, pass: PASSWORD }, logger: false });
    imap.on('error', () => undefined);
    await imap.connect();
    try {
      const mailbox = await imap.mailboxOpen('INBOX');
      expect(mailbox.exists).toBe(3);
      const subjects: string[] = [];
      for await (const m of imap.fetch('1:*', { envelope: true })) subjects.push(m.envelope?.subject ?? '');
      expect(subjects.map((s) => s.replace(/.*\(#(\d+)\)$/, '$1'))).toEqual(['1', '2', '3']);
      // pushmail finds the Sent mailbox by SPECIAL-USE.
      const list = await imap.list();
      expect(list.find((b) => b.specialUse === '\\Sent')?.path).toBe('Sent');
    } finally {
      await imap.logout().catch(() => undefined);
    }
  });

  it('with a gateway, it registers the demo account once and prints a working sign-in link', async () => {
    const redis = await TestRedis.start();
    const env = testEnv(redis.url);
    const gateway = await AppProcess.start('gateway', env);
    try {
      const mailgenEnv = {
        MAILGEN_COUNT: '1',
        GATEWAY_URL: gateway.url,
        PUBLIC_URL: 'http://localhost:3000',
        ADMIN_TOKEN: env.ADMIN_TOKEN!,
        AUTH_JWT_SECRET: env.AUTH_JWT_SECRET!,
        IMAP_HOST: '127.0.0.1',
        IMAP_PORT: String(imapPort),
        DEMO_PASSWORD: PASSWORD,
      };
      const first = await runMailgen(mailgenEnv);
      expect(first.code).toBe(0);
      const second = await runMailgen(mailgenEnv);
      expect(second.code).toBe(0);
      const registered = first.lines.find((l) => l.msg === 'demo account registered');
      expect(second.lines.find((l) => l.msg === 'demo account registered')?.accountId).toBe(registered?.accountId);

      const res = await fetch(`${gateway.url}/api/accounts?userId=demo`, { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
      const accounts = (await res.json()) as Array<{ id: string; email: string }>;
      expect(accounts).toEqual([expect.objectContaining({ id: registered?.accountId, email: USER })]);

      const link = first.lines.find((l) => l.msg === 'open the web client')?.url ?? '';
      expect(link).toMatch(/^http:\/\/localhost:3000\/#token=/);
      const identity = await verifyClientToken(link.split('#token=')[1], env.AUTH_JWT_SECRET!);
      expect(identity.userId).toBe('demo');
    } finally {
      await gateway.stop();
      await redis.dispose();
    }
  });
});

function greeting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('* OK'));
    });
    socket.once('error', () => resolve(false));
  });
}
