import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { answers, freePort, waitFor } from './checks.mjs';
import { REPO_ROOT } from './paths.mjs';
import { Supervised } from './supervisor.mjs';

/** The same verified config the test harness uses (libs/testing), rendered for the demo. */
const TEMPLATE = join(REPO_ROOT, 'libs/testing/src/dovecot.conf.template');
const MAIL_UID = 1000;

/**
 * Dovecot's push_notification Lua driver with the shipped script (deploy/dovecot), posting each new
 * message to the watcher's ingress: the demo shows the fast path, IDLE stays the safety net.
 */
function pushNotifyConfig({ url, secret }) {
  return [
    'mail_plugins = $mail_plugins mail_lua notify push_notification push_notification_lua',
    'plugin {',
    `  push_notification_driver = lua:file=${join(REPO_ROOT, 'deploy/dovecot/pushmail-notify.lua')}`,
    `  pushmail_notify_url = ${url}`,
    `  pushmail_notify_secret = ${secret}`,
    '}',
  ].join('\n');
}

/**
 * A private Dovecot (IMAP + LMTP on loopback) for the demo account. Its directory is short and
 * under /tmp because Dovecot's UNIX socket paths break past ~100 characters.
 */
export async function startDovecot({ users, logDir, onExit, pushNotify }) {
  const dir = mkdtempSync('/tmp/pm-demo-');
  chmodSync(dir, 0o755);
  for (const sub of ['run', 'state', 'log', 'mail']) mkdirSync(join(dir, sub), { recursive: true });
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chownSync(join(dir, 'mail'), MAIL_UID, MAIL_UID);
  const lines = Object.entries(users).map(([user, pass]) => `${user}:{PLAIN}${pass}::::::`);
  writeFileSync(join(dir, 'users'), lines.join('\n') + '\n', { mode: 0o644 });
  const ports = { imap: await freePort(), pop3: await freePort(), lmtp: await freePort() };
  const conf = readFileSync(TEMPLATE, 'utf8')
    .replaceAll('@DIR@', dir)
    .replaceAll('@IMAP_PORT@', String(ports.imap))
    .replaceAll('@POP3_PORT@', String(ports.pop3))
    .replaceAll('@LMTP_PORT@', String(ports.lmtp))
    .replaceAll('@INSTANCE@', `pmdemo${ports.imap}`)
    .replace('@PASSDB_FIRST@', '')
    .replace('@EXTRA@', pushNotify ? pushNotifyConfig(pushNotify) : '');
  const config = asRoot ? conf : forCurrentUser(conf);
  const configPath = join(dir, 'dovecot.conf');
  writeFileSync(configPath, config);
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

/**
 * The template is written for a root master that drops to system users. Started by an ordinary
 * user, Dovecot runs every process as that user instead, and cannot chroot its login processes.
 */
function forCurrentUser(conf) {
  const { uid, gid, username } = userInfo();
  const group = spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim() || String(gid);
  return (
    conf
      .replace(/^default_internal_user\s*=.*$/m, `default_internal_user = ${username}`)
      .replace(/^default_internal_group\s*=.*$/m, `default_internal_group = ${group}`)
      .replace(/^default_login_user\s*=.*$/m, `default_login_user = ${username}`)
      .replace(/^first_valid_uid\s*=.*$/m, `first_valid_uid = ${uid}`)
      .replace(/^first_valid_gid\s*=.*$/m, `first_valid_gid = ${gid}`)
      .replace(/uid=\d+ gid=\d+/, `uid=${uid} gid=${gid}`) +
    ['anvil', 'imap-login', 'pop3-login'].map((service) => `service ${service} {\n  chroot =\n}\n`).join('')
  );
}

