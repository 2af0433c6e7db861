import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { answers, freePort, waitFor } from './checks.mjs';
import { Supervised } from './supervisor.mjs';

/**
 * A private redis-server for the local stack. Data lives in `<dir>/redis` with AOF on, so accounts
 * and event logs survive a restart; `noeviction` because an evicted dedupe key replays old mail as new.
 */
export async function startRedis({ dir, logDir, onExit }) {
  const dataDir = join(dir, 'redis');
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const proc = new Supervised({
    name: 'redis',
    command: 'redis-server',
    args: [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dataDir,
      '--appendonly', 'yes',
      '--appendfsync', 'everysec',
      '--save', '',
      '--maxmemory-policy', 'noeviction',
      '--daemonize', 'no',
    ],
    cwd: dataDir,
    env: process.env,
    logFile: join(logDir, 'redis.log'),
    onExit,
  }).start();
  await waitFor(() => answers(port, '+PONG', 'PING\r\n'), 15_000, 'redis-server to answer PING');
  return { proc, port, url: `redis://127.0.0.1:${port}`, dataDir };
}
