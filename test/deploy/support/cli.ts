import { REPO_ROOT, spawnTracked } from '@pushmail/testing';
import { join } from 'node:path';

export const CLI = join(REPO_ROOT, 'dist/apps/cli/main.js');
const ENTRYPOINT = join(REPO_ROOT, 'deploy/docker/entrypoint.sh');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON (the command's result), if it is JSON. */
  json: Record<string, unknown> | undefined;
}

/**
 * Runs the built CLI exactly as the image does: through the entrypoint, `cli <command>`. Aborting
 * `kill` SIGKILLs it (the entrypoint execs node, so that is the command itself).
 */
export function runCli(args: string[], env: Record<string, string>, kill?: AbortSignal): Promise<CliResult> {
  const child = spawnTracked('sh', [ENTRYPOINT, 'cli', ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH, LOG_LEVEL: 'warn', ...env }, signal: kill, killSignal: 'SIGKILL' });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve) => {
    const finish = (code: number | null) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(last) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    };
    child.once('exit', finish);
    // A kill also emits an AbortError here, and then exits; a spawn that failed may never exit.
    child.on('error', (err) => {
      if (err.name === 'AbortError') return;
      stderr += String(err);
      finish(null);
    });
  });
}
