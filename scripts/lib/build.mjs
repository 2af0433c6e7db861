import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.mjs';

const APPS = ['watcher', 'fetcher', 'gateway'];

/** Newest modification time of the source files under `dirs` (tests excluded). */
function newestSource(dirs) {
  let newest = 0;
  const walk = (dir) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'test') walk(path);
      } else if (!/\.(int-)?spec\.ts$/.test(entry.name)) {
        newest = Math.max(newest, statSync(path).mtimeMs);
      }
    }
  };
  for (const d of dirs) walk(join(REPO_ROOT, d));
  return newest;
}

const mtime = (path) => (existsSync(path) ? statSync(path).mtimeMs : 0);

/** Which builds are missing or older than their sources. */
export function staleBuilds() {
  const libs = readdirSync(join(REPO_ROOT, 'libs')).filter((l) => l !== 'testing' && l !== 'client').map((l) => `libs/${l}/src`);
  const serverSources = Math.max(newestSource([...APPS.map((a) => `apps/${a}/src`), ...libs]), mtime(join(REPO_ROOT, 'package-lock.json')));
  const oldestApp = Math.min(...APPS.map((a) => mtime(join(REPO_ROOT, 'dist/apps', a, 'main.js'))));
  const webSources = newestSource(['apps/web', 'libs/client/src', 'libs/contracts/src']);
  const web = mtime(join(REPO_ROOT, 'dist/web/index.html'));
  return { apps: oldestApp === 0 || oldestApp < serverSources, web: web === 0 || web < webSources };
}

export function runNpmScript(script, log) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', '--silent', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) return resolve();
      log(output.trim());
      reject(new Error(`npm run ${script} failed (exit ${code})`));
    });
  });
}
