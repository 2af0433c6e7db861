#!/usr/bin/env node
// Makes sure the real servers the tests run against are installed. As root it installs what is
// missing from Debian's packages (one `apt-get update` first); otherwise it stops and names them.
import { execSync, spawnSync } from 'node:child_process';

const required = [
  { bin: 'redis-server', pkg: 'redis-server' },
  { bin: 'dovecot', pkg: 'dovecot-imapd' },
  { bin: 'doveconf', pkg: 'dovecot-core' },
  { pkg: 'dovecot-imapd', file: '/usr/lib/dovecot/imap' },
  { pkg: 'dovecot-pop3d', file: '/usr/lib/dovecot/pop3' },
  { pkg: 'dovecot-lmtpd', file: '/usr/lib/dovecot/lmtp' },
];
// The browser test (issue: web client) drives Debian's Chromium; no browser download.
if (process.env.PUSHMAIL_SKIP_BROWSER !== '1') required.push({ bin: 'chromium', pkg: 'chromium' });

const has = ({ bin, file }) =>
  bin ? spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0 : spawnSync('test', ['-e', file]).status === 0;

const missing = [...new Set(required.filter((r) => !has(r)).map((r) => r.pkg))];
if (missing.length === 0) {
  console.log('preflight: redis-server, dovecot (imap, pop3, lmtp) and chromium are installed');
  process.exit(0);
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
if (!isRoot || !hasApt) {
  console.error(
    `preflight: missing Debian packages: ${missing.join(' ')}\n` +
      `Install them, then run npm test again:\n  sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}`,
  );
  process.exit(1);
}

console.log(`preflight: installing ${missing.join(' ')} …`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
try {
  execSync('apt-get update -qq', { stdio: 'inherit', env });
  // Package scripts try to start the system Dovecot/Redis; tests start their own, so failures
  // to start those services (no init system in a container) must not fail the install.
  execSync(`apt-get install -y -qq --no-install-recommends ${missing.join(' ')}`, { stdio: 'inherit', env });
} catch (err) {
  console.error(`preflight: apt-get failed (${err.message}). Install by hand: apt-get install -y ${missing.join(' ')}`);
  process.exit(1);
}
const still = required.filter((r) => !has(r)).map((r) => r.pkg);
if (still.length) {
  console.error(`preflight: still missing after install: ${still.join(' ')}`);
  process.exit(1);
}
console.log('preflight: done');
