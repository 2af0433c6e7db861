#!/usr/bin/env node
// Demo mail generator for `docker compose --profile demo up`. It registers the demo mailbox with
// the gateway (when GATEWAY_URL and ADMIN_TOKEN are set), prints a sign-in link for the web
// client, then delivers a message over LMTP every MAILGEN_INTERVAL_MS, as an MTA would, so new
// mail keeps arriving while you watch. MAILGEN_COUNT > 0 stops after that many messages.
'use strict';
const { writeFileSync } = require('node:fs');
const nodemailer = require('nodemailer');

const env = (name, fallback) => process.env[name] || fallback;
const config = {
  lmtpHost: env('LMTP_HOST', 'dovecot'),
  lmtpPort: Number(env('LMTP_PORT', '24')),
  imapHost: env('IMAP_HOST', 'dovecot'),
  imapPort: Number(env('IMAP_PORT', '143')),
  user: env('DEMO_USER', 'demo@example.test'),
  password: env('DEMO_PASSWORD', 'demo-password'),
  userId: env('DEMO_USER_ID', 'demo'),
  gatewayUrl: process.env.GATEWAY_URL,
  publicUrl: env('PUBLIC_URL', 'http://localhost:3000'),
  adminToken: process.env.ADMIN_TOKEN,
  jwtSecret: process.env.AUTH_JWT_SECRET,
  intervalMs: Number(env('MAILGEN_INTERVAL_MS', '15000')),
  count: Number(env('MAILGEN_COUNT', '0')),
  heartbeatFile: env('MAILGEN_HEARTBEAT_FILE', '/tmp/mailgen-alive'),
};

const senders = [
  { name: 'Ada Lovelace', address: 'ada@analytical.example' },
  { name: 'Grace Hopper', address: 'grace@cobol.example' },
  { name: 'Alan Turing', address: 'alan@bletchley.example' },
];
const subjects = ['Lunch on Friday?', 'Build is green again', 'Notes from the standup', 'Quick question about IDLE', 'Invoice attached'];

const log = (msg, extra = {}) => process.stdout.write(JSON.stringify({ level: 'info', app: 'mailgen', time: new Date().toISOString(), msg, ...extra }) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// The compose healthcheck reads this file's age: the generator is healthy while its loop runs.
const beat = () => writeFileSync(config.heartbeatFile, String(Date.now()));

async function waitForGateway() {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`${config.gatewayUrl}/health/ready`);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    beat();
    if (attempt % 10 === 0) log('waiting for the gateway', { url: config.gatewayUrl });
    await sleep(1000);
  }
}

/** Registers the demo account once; a restart finds it and does nothing. */
async function ensureAccount() {
  const headers = { authorization: `Bearer ${config.adminToken}`, 'content-type': 'application/json' };
  const list = await fetch(`${config.gatewayUrl}/api/accounts?userId=${encodeURIComponent(config.userId)}`, { headers });
  if (!list.ok) throw new Error(`listing accounts failed: HTTP ${list.status}`);
  const existing = (await list.json()).find((a) => a.email === config.user);
  if (existing) return existing.id;
  const server = { host: config.imapHost, port: config.imapPort, secure: false, user: config.user, pass: config.password };
  const res = await fetch(`${config.gatewayUrl}/api/accounts`, {
    method: 'POST',
    headers,
    // The demo has no SMTP server: replies are accepted and then fail as send_failed.
    body: JSON.stringify({ userId: config.userId, email: config.user, imap: server, smtp: { ...server, port: 587 }, mailboxes: ['INBOX'] }),
  });
  if (res.status !== 201) throw new Error(`creating the demo account failed: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()).id;
}

async function printSignInLink() {
  if (!config.jwtSecret) return;
  const { SignJWT } = await import('jose');
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(config.userId).setIssuedAt().setExpirationTime('30d').sign(new TextEncoder().encode(config.jwtSecret));
  log('open the web client', { url: `${config.publicUrl}/#token=${token}` });
}

async function main() {
  if (config.gatewayUrl && config.adminToken) {
    await waitForGateway();
    const accountId = await ensureAccount();
    log('demo account registered', { accountId, email: config.user });
    await printSignInLink();
  }
  const transport = nodemailer.createTransport({ host: config.lmtpHost, port: config.lmtpPort, lmtp: true });
  for (let n = 1; config.count === 0 || n <= config.count; n++) {
    const from = senders[n % senders.length];
    const subject = `${subjects[n % subjects.length]} (#${n})`;
    try {
      await transport.sendMail({
        from,
        to: config.user,
        subject,
        text: `Hello!\n\nThis is demo message #${n}, delivered at ${new Date().toISOString()}.\n\n— ${from.name}`,
        html: `<p>Hello!</p><p>This is demo message <b>#${n}</b>, delivered at ${new Date().toISOString()}.</p><p>— ${from.name}</p>`,
      });
      log('delivered', { n, subject });
      beat();
    } catch (err) {
      log('delivery failed; retrying next round', { n, error: err.message });
    }
    if (config.count === 0 || n < config.count) await sleep(config.intervalMs);
  }
  transport.close();
}

process.on('SIGTERM', () => process.exit(0));
main().catch((err) => {
  process.stderr.write(`mailgen: ${err.stack || err}\n`);
  process.exit(1);
});
