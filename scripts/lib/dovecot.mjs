import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { answers, freePort, waitFor } from './checks.mjs';
import { REPO_ROOT } from './paths.mjs';
import { Supervised } from './supervisor.mjs';

/** The same verified config the test harness uses (libs/testing), rendered for the demo. */
const TEMPLATE = join(REPO_ROOT, 'libs/testing/src/dovecot.conf.template');
const MAIL_UID = 1000;

/**
 * A private Dovecot (IMAP + LMTP on loopback) for the demo account. Its directory is short and
 * under /tmp because Dovecot's UNIX socket paths break past ~100 characters.
 */
export async function startDovecot({ users, logDir, onExit }) {
  const dir = mkdtempSync('/tmp/pm-demo-');
  chmodSync(dir, 0o755);
  for (const sub of ['run', 'state', 'log', 'mail']) mkdirSync(join(dir, sub), { recursive: true });
  chownSync(join(dir, 'mail'), MAIL_UID, MAIL_UID);
  const lines = Object.entries(users).map(([user, pass]) => `${user}:{PLAIN}${pass}::::::`);
  writeFileSync(join(dir, 'users'), lines.join('\n') + '\n', { mode: 0o644 });
  const ports = { imap: await freePort(), pop3: await freePort(), lmtp: await freePort() };
  const conf = readFileSync(TEMPLATE, 'utf8')
    .replaceAll('@DIR@', dir)
    .replaceAll('@IMAP_PORT@', String(ports.imap))
    .replaceAll('@POP3_PORT@', String(ports.pop3))
    .replaceAll('@LMTP_PORT@', String(ports.lmtp))
    .replaceAll('@INSTANCE@', `pmdemo${ports.imap}`)
    .replace('@EXTRA@', '');
  const configPath = join(dir, 'dovecot.conf');
  writeFileSync(configPath, conf);
  const proc = new Supervised({
    name: 'dovecot',
    command: 'dovecot',
    args: ['-F', '-c', configPath],
    env: process.env,
    cwd: dir,
    logFile: join(logDir, 'dovecot.log'),
    onExit,
  }).start();
  try {
    await waitFor(async () => {
      if (!proc.running) throw new Error(`dovecot exited; see ${join(dir, 'log/dovecot.log')}`);
      return answers(ports.imap, '* OK');
    }, 15_000, 'the Dovecot IMAP greeting');
  } catch (err) {
    await proc.stop(2000);
    throw err;
  }
  return {
    proc,
    dir,
    ports,
    dispose: async () => {
      await proc.stop(8000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
