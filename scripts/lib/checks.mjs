import { spawnSync } from 'node:child_process';
import { connect, createServer } from 'node:net';

export function hasCommand(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

/** What to tell someone whose machine lacks a server npm start needs. */
export function missingServerMessage(bin, debianPackages, extra = '', compose = 'docker compose up') {
  return (
    `${bin} is not installed.\n` +
    `  Debian/Ubuntu: sudo apt-get install -y ${debianPackages}\n` +
    `  or run the whole stack in containers: ${compose}` +
    (extra ? `\n  ${extra}` : '')
  );
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Listens on `port` (0: any free port) on every interface and keeps listening, or resolves undefined
 * when something holds it. npm start holds the apps' ports from the moment it checks them until it
 * starts the apps: the Redis and Dovecot it starts meanwhile pick free ports of their own, and with
 * the port merely checked they (or any other program) could take it in between.
 */
export function holdPort(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen(port, '0.0.0.0', () => resolve(server));
  });
}

export function releasePorts(servers) {
  return Promise.all(servers.map((server) => new Promise((resolve) => server.close(() => resolve()))));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(probe, timeoutMs, what, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError.message}` : ''}`);
}

/**
 * Whether a server on loopback answers as expected: connects, optionally sends `send`, and checks
 * the first reply starts with `expect`. A TCP connect alone succeeds before a server can serve.
 */
export function answers(port, expect, send) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    if (send) socket.once('connect', () => socket.write(send));
    socket.once('data', (d) => done(d.toString().startsWith(expect)));
  });
}
