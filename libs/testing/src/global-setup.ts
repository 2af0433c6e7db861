import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PIDFILE_ENV } from './processes';

/**
 * Integration tests never skip silently: without redis-server and dovecot they fail here, naming
 * what to install.
 */
export default function globalSetup(): void {
  const missing: string[] = [];
  const need: Array<[string, string]> = [
    ['redis-server', 'redis-server'],
    ['dovecot', 'dovecot-imapd dovecot-pop3d dovecot-lmtpd'],
  ];
  for (const [bin, pkg] of need) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      missing.push(pkg);
    }
  }
  if (missing.length) {
    throw new Error(`Integration tests need real servers. Install: apt-get install -y ${missing.join(' ')} (or run \`npm run preflight\` as root)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'pm-pids-'));
  const file = join(dir, 'pids');
  writeFileSync(file, '');
  process.env[PIDFILE_ENV] = file;
}
