import { REPO_ROOT } from '@pushmail/testing';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** `npm start` on a machine that lacks the servers it needs: say what to install, start nothing. */
describe('npm start without redis-server or dovecot', () => {
  let bin: string;
  let dataDir: string;
  beforeAll(() => {
    // A PATH with a shell and nothing else.
    bin = mkdtempSync(join(tmpdir(), 'pm-bin-'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    dataDir = mkdtempSync(join(tmpdir(), 'pm-start-'));
  });
  afterAll(() => {
    rmSync(bin, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = (...args: string[]) =>
    spawnSync(process.execPath, ['scripts/start.mjs', '--no-build', '--data-dir', dataDir, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: bin, HOME: dataDir },
      encoding: 'utf8',
      timeout: 20_000,
    });

  it('names the Debian package, or docker compose, and exits 1', () => {
    const result = start();
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('apt-get install -y redis-server');
    expect(result.stderr).toContain('docker compose up');
  });

  it('for the demo also names the Dovecot packages', () => {
    const result = start('--demo');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('apt-get install -y dovecot-imapd dovecot-lmtpd');
    expect(result.stderr).toContain('docker compose --profile demo up');
  });
});
