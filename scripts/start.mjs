#!/usr/bin/env node
// `npm start`: the whole pushmail system on this machine. See `npm start -- --help`.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { runNpmScript, staleBuilds } from './lib/build.mjs';
import { hasCommand, missingServerMessage, holdPort, releasePorts, sleep, waitFor } from './lib/checks.mjs';
import { DEMO_EMAIL, startDemoServers } from './lib/demo.mjs';
import { deliverOverLmtp, demoMessage } from './lib/demo-messages.mjs';
import { REPO_ROOT, dataDir } from './lib/paths.mjs';
import { startRedis } from './lib/redis.mjs';
import { loadOrCreateSecrets } from './lib/secrets.mjs';
import { Supervised } from './lib/supervisor.mjs';

const HELP = `Usage: npm start [-- options]

Runs Redis, one watcher, one fetcher and one gateway (which serves the web client), builds them
first when needed, and prints a sign-in link for the local user. Ctrl-C stops everything.

Options:
  --demo                 also run a local Dovecot with a registered demo account that receives
                         a realistic message every few seconds (same as \`npm run demo\`)
  --demo-interval <s>    seconds between demo messages (default 8; 0 = only on \`npm run demo:send\`)
  --port <n>             gateway port (default: $PORT or 3000)
  --user <id>            the local user's id, the token's \`sub\` (default: local)
  --data-dir <dir>       where secrets, Redis data and logs live (default: $PUSHMAIL_HOME or ./.pushmail)
  --no-build             do not build, even when dist/ is older than the sources
  --verbose              print every app log line, not only warnings and errors

Environment: REDIS_URL (or REDIS_SENTINELS, or REDIS_CLUSTER_NODES) uses that Redis instead of starting one; PUSHMAIL_SECRET_KEY,
AUTH_JWT_SECRET and ADMIN_TOKEN override the generated secrets; HOST sets the listen address
(default 127.0.0.1).`;

const { values: opts } = parseArgs({
  options: {
    demo: { type: 'boolean', default: false },
    'demo-interval': { type: 'string', default: '8' },
    port: { type: 'string' },
    user: { type: 'string', default: 'local' },
    'data-dir': { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log(HELP);
  process.exit(0);
}

const say = (line) => process.stdout.write(`${line}\n`);
const warn = (line) => process.stderr.write(`${line}\n`);
const dir = dataDir(opts['data-dir']);
const logDir = join(dir, 'logs');
const shown = (path) => (path.startsWith(REPO_ROOT) ? `./${relative(REPO_ROOT, path)}` : path);
const host = process.env.HOST ?? '127.0.0.1';
const processes = [];
let demo;
let demoTimer;
const runInfo = { pid: process.pid };
let shuttingDown = false;

async function main() {
  preflight();
  mkdirSync(logDir, { recursive: true });
  refuseSecondInstance();
  const gatewayPort = Number(opts.port ?? process.env.PORT ?? 3000);
  const gatewayHold = await holdPort(gatewayPort);
  if (!gatewayHold) {
    throw new UserError(`port ${gatewayPort} is in use (another npm start?). Stop it, or pick another port: npm start -- --port 3100`);
  }
  // The watcher and fetcher take the next two ports when they are free. All three stay held until
  // the apps start (see holdPort); the demo's Dovecot is told the watcher's port before that.
  const holds = {
    gateway: gatewayHold,
    watcher: (await holdPort(gatewayPort + 1)) ?? (await holdPort(0)),
    fetcher: (await holdPort(gatewayPort + 2)) ?? (await holdPort(0)),
  };
  const ports = Object.fromEntries(Object.entries(holds).map(([app, server]) => [app, server.address().port]));

  if (!opts['no-build']) await buildIfStale();

  const { secrets, created } = loadOrCreateSecrets(dir);
  if (created) say(`generated secrets in ${shown(join(dir, 'secrets.env'))}`);
  writeRunInfo();

  let redisUrl = process.env.REDIS_URL;
  if (process.env.REDIS_SENTINELS) {
    // The apps read REDIS_SENTINELS themselves (and refuse it beside a REDIS_URL): start no Redis.
    say(`using the Redis Sentinel set at ${process.env.REDIS_SENTINELS}`);
  } else if (process.env.REDIS_CLUSTER_NODES) {
    // Likewise for a Redis Cluster.
    say(`using the Redis Cluster at ${process.env.REDIS_CLUSTER_NODES}`);
  } else if (redisUrl) {
    say(`using Redis at ${redisUrl.replace(/\/\/[^@]*@/, '//***@')}`);
  } else {
    process.stdout.write('starting redis… ');
    const redis = await startRedis({ dir, logDir, onExit: crashReporter('redis') });
    processes.push(redis.proc);
    redisUrl = redis.url;
    say(`ready (data in ${shown(redis.dataDir)})`);
  }

  // The demo's Dovecot tells the watcher about new mail directly (deploy/dovecot/pushmail-notify.lua),
  // so the ports are chosen first; the secret is new on every run, like the demo mailbox.
  const notifySecret = randomBytes(24).toString('base64url');
  if (opts.demo) {
    process.stdout.write('starting the demo mail server (Dovecot + SMTP sink)… ');
    const pushNotify = { url: `http://127.0.0.1:${ports.watcher}/api/notify/dovecot`, secret: notifySecret };
    demo = await startDemoServers({ dir, logDir, log: say, onExit: crashReporter('dovecot'), pushNotify });
    processes.push(demo.dovecot.proc);
    say('ready');
  }
  const baseEnv = {
    ...process.env,
    ...secrets,
    REDIS_URL: redisUrl,
    HOST: host,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    // The demo's Dovecot and SMTP sink listen on loopback without TLS, which the apps refuse by
    // default (mail hosts named by users must be public, and plain text needs STARTTLS). Only the
    // demo lifts that, and only where the environment does not decide already.
    ...(opts.demo ? { ALLOW_PRIVATE_MAIL_HOSTS: process.env.ALLOW_PRIVATE_MAIL_HOSTS ?? 'true', ALLOW_INSECURE_MAIL: process.env.ALLOW_INSECURE_MAIL ?? 'true' } : {}),
    ...(opts.demo && !process.env.NOTIFY_SOURCES ? { NOTIFY_SOURCES: JSON.stringify([{ name: 'demo', secret: notifySecret, imapHosts: ['127.0.0.1'] }]) } : {}),
  };
  await releasePorts(Object.values(holds));
  const apps = ['watcher', 'fetcher', 'gateway'].map((app) => startApp(app, ports[app], baseEnv));
  await Promise.all(
    apps.map(async ({ app, url }) => {
      await waitReady(app, url, 90_000);
      say(app === 'gateway' ? `gateway listening on ${publicUrl(ports.gateway)}` : `${app} ready`);
    }),
  );

  const gatewayUrl = `http://127.0.0.1:${ports.gateway}`;
  Object.assign(runInfo, { gatewayUrl, redisUrl, ports });
  const admin = adminClient(gatewayUrl, secrets.ADMIN_TOKEN);
  await removeStaleDemoAccounts(admin);
  if (demo) await registerDemoAccount(admin);

  const token = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(opts.user)
    .setIssuedAt()
    .setExpirationTime('30d')
    .sign(new TextEncoder().encode(secrets.AUTH_JWT_SECRET));
  writeFileSync(join(dir, 'token'), `${token}\n`, { mode: 0o600 });

  writeRunInfo();
  say('');
  say(`pushmail is running. Open the web client:`);
  say(`  ${publicUrl(ports.gateway)}/#token=${token}`);
  say('');
  say(`  user "${opts.user}" · token valid 30 days (also in ${shown(join(dir, 'token'))})`);
  say(`  admin API: ${publicUrl(ports.gateway)}/api/docs with the ADMIN_TOKEN from ${shown(join(dir, 'secrets.env'))}`);
  say(`  logs: ${shown(logDir)}/`);
  if (demo) {
    const every = Number(opts['demo-interval']);
    say(`  demo: ${DEMO_EMAIL} receives a message ${every > 0 ? `every ${every} s` : 'on demand'}; send one now: npm run demo:send -- "Hello"`);
    say(`        replies go to a local SMTP sink and are saved in ${shown(demo.state.outbox)}/`);
  } else {
    say(`  add your own mail account in the web client, or try the demo: npm run demo`);
  }
  say('Press Ctrl-C to stop.');
  if (demo) scheduleDemoMail(Number(opts['demo-interval']));
}

/** Two runs on one data dir would start two Redis servers on the same append-only file. */
function refuseSecondInstance() {
  let previous;
  try {
    previous = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
  } catch {
    return;
  }
  try {
    process.kill(previous.pid, 0);
  } catch {
    return; // left behind by a run that was killed
  }
  throw new UserError(`npm start is already running with ${shown(dir)} (pid ${previous.pid}${previous.gatewayUrl ? `, ${previous.gatewayUrl}` : ''}). Stop it first, or use another --data-dir.`);
}

function preflight() {
  const problems = [];
  if (!process.env.REDIS_URL && !process.env.REDIS_SENTINELS && !process.env.REDIS_CLUSTER_NODES && !hasCommand('redis-server')) {
    problems.push(missingServerMessage('redis-server', 'redis-server', 'or point REDIS_URL at a Redis you already run'));
  }
  if (opts.demo) {
    if (!hasCommand('dovecot')) problems.push(missingServerMessage('dovecot (for the demo)', 'dovecot-imapd dovecot-lmtpd', '', 'docker compose --profile demo up'));
  }
  if (problems.length) throw new UserError(problems.join('\n\n'));
}

async function buildIfStale() {
  const stale = staleBuilds();
  if (stale.apps) {
    process.stdout.write('building the apps and the web client (about 30 s the first time)… ');
    await runNpmScript('build', warn);
    say('done');
  } else if (stale.web) {
    process.stdout.write('building the web client… ');
    await runNpmScript('build:web', warn);
    say('done');
  }
}

function startApp(app, port, baseEnv) {
  const url = `http://127.0.0.1:${port}`;
  const proc = new Supervised({
    name: app,
    command: process.execPath,
    args: [join(REPO_ROOT, 'dist/apps', app, 'main.js')],
    cwd: REPO_ROOT,
    env: { ...baseEnv, PORT: String(port), INSTANCE_ID: `local-${app}` },
    logFile: join(logDir, `${app}.log`),
    onLine: (line) => forwardLog(app, line),
    onExit: (info) => {
      crashReporter(app)(info);
      if (!info.restarting) return;
      void sleep(info.delayMs + 200)
        .then(() => waitReady(app, url, 120_000))
        .then(() => {
          if (shuttingDown) return;
          writeRunInfo();
          say(`${app} ready again`);
        }, () => undefined);
    },
  }).start();
  processes.push(proc);
  return { app, url, proc };
}

async function waitReady(app, url, timeoutMs) {
  try {
    await waitFor(async () => (await fetch(`${url}/health/ready`)).ok, timeoutMs, `${app} to become ready`, 200);
  } catch (err) {
    if (shuttingDown) return;
    const tail = readTail(join(logDir, `${app}.log`), 15);
    throw new UserError(`${app} did not become ready: ${err.message}\nLast lines of ${shown(join(logDir, `${app}.log`))}:\n${tail}`);
  }
}

/** Warnings and errors reach the terminal; everything is in the log file. */
function forwardLog(app, line) {
  if (opts.verbose) return say(`  [${app}] ${line}`);
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    if (line.trim()) warn(`  [${app}] ${line}`);
    return;
  }
  if (['warn', 'error', 'fatal'].includes(entry.level)) warn(`  [${app}] ${entry.level}: ${entry.msg ?? ''}${entry.context ? ` (${entry.context})` : ''}`);
}

function crashReporter(name) {
  return ({ code, signal, restarting, delayMs }) => {
    if (shuttingDown) return;
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    warn(`${name} ${how}${restarting ? `; restarting in ${Math.round(delayMs / 1000)} s` : ''} (log: ${shown(join(logDir, `${name}.log`))})`);
  };
}

function adminClient(baseUrl, adminToken) {
  return async (method, path, body) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  };
}

/**
 * The demo mailbox is new on every run (its Dovecot lives in /tmp), so an account registered by an
 * earlier run points at a server that is gone; it is removed rather than left failing.
 */
async function removeStaleDemoAccounts(admin) {
  const accounts = await admin('GET', `/api/accounts?userId=${encodeURIComponent(opts.user)}`);
  for (const account of accounts.filter((a) => a.email === DEMO_EMAIL)) await admin('DELETE', `/api/accounts/${encodeURIComponent(account.id)}`);
}

async function registerDemoAccount(admin) {
  process.stdout.write(`registering the demo account ${DEMO_EMAIL}… `);
  const view = await admin('POST', '/api/accounts', { userId: opts.user, ...demo.account });
  demo.accountId = view.id;
  // Mail delivered before the watcher is connected would still arrive, but the first one should be live.
  const connected = await waitFor(async () => (await admin('GET', `/api/accounts/${view.id}`)).state === 'connected', 30_000, 'the demo account to connect', 250).then(
    () => true,
    () => false,
  );
  say(connected ? 'connected' : 'registered (the watcher has not connected it yet; mail shows up once it has)');
}

function scheduleDemoMail(intervalSeconds) {
  let index = 0;
  const deliver = async () => {
    const message = demoMessage(index++);
    try {
      await deliverOverLmtp({ port: demo.state.lmtpPort, to: DEMO_EMAIL, message });
      say(`demo: delivered “${message.subject}”`);
    } catch (err) {
      warn(`demo: delivery failed: ${err.message}`);
    }
  };
  if (intervalSeconds <= 0) return;
  void deliver();
  demoTimer = setInterval(deliver, intervalSeconds * 1000);
}

async function shutdown(signal) {
  if (shuttingDown) {
    // A second Ctrl-C: stop waiting.
    for (const p of processes) p.kill('SIGKILL');
    process.exit(1);
  }
  shuttingDown = true;
  clearInterval(demoTimer);
  if (signal) say(`\nstopping (${signal})…`);
  const apps = processes.filter((p) => ['watcher', 'fetcher', 'gateway'].includes(p.name));
  // Apps first, so they can drain their work into Redis; the servers they use go last.
  await Promise.all(apps.map((p) => p.stop(15_000)));
  if (demo) await demo.stop().catch(() => undefined);
  await Promise.all(processes.filter((p) => !apps.includes(p)).map((p) => p.stop(10_000)));
  removeRunInfo();
  if (signal) say('stopped.');
}

/** What is running, for scripts and tests: `<dir>/run.json` (ports, URLs, process ids). */
function writeRunInfo() {
  const pids = Object.fromEntries(processes.map((p) => [p.name, p.pid]));
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...runInfo, pids }, null, 2));
}

function removeRunInfo() {
  try {
    // Only our own: a refused second instance must not erase the running one's.
    if (JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')).pid === process.pid) rmSync(join(dir, 'run.json'));
  } catch {
    // not written yet
  }
}

function readTail(file, lines) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function publicUrl(port) {
  const shownHost = host === '127.0.0.1' || host === '0.0.0.0' ? 'localhost' : host;
  return `http://${shownHost}:${port}`;
}

class UserError extends Error {}

process.on('SIGINT', () => void shutdown('SIGINT').then(() => process.exit(0)));
process.on('SIGTERM', () => void shutdown('SIGTERM').then(() => process.exit(0)));
// A closed terminal: stop as cleanly as on Ctrl-C.
process.on('SIGHUP', () => void shutdown('SIGHUP').then(() => process.exit(0)));
process.on('exit', () => {
  for (const p of processes) p.kill('SIGKILL');
});

main().catch(async (err) => {
  warn(`\n${err instanceof UserError ? err.message : `npm start failed: ${err.stack ?? err}`}`);
  await shutdown();
  process.exit(1);
});
