import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { freePort } from './checks.mjs';
import { startDovecot } from './dovecot.mjs';

export const DEMO_EMAIL = 'demo@pushmail.test';
const SMTP_USER = 'demo';

/**
 * The demo's mail servers: a private Dovecot holding the demo mailbox, and an SMTP sink that
 * accepts the demo account's outgoing mail (replies work offline) and saves each message under
 * `<dir>/demo/outbox/`. Connection details go to `<dir>/demo/state.json` for `npm run demo:send`.
 */
export async function startDemoServers({ dir, logDir, log, onExit, pushNotify }) {
  const demoDir = join(dir, 'demo');
  const outbox = join(demoDir, 'outbox');
  mkdirSync(outbox, { recursive: true });
  const pass = randomBytes(12).toString('base64url');
  const dovecot = await startDovecot({ users: { [DEMO_EMAIL]: pass }, logDir, onExit, pushNotify });
  const sink = await startSmtpSink({ outbox, pass, log });
  const state = {
    email: DEMO_EMAIL,
    pass,
    imapPort: dovecot.ports.imap,
    pop3Port: dovecot.ports.pop3,
    lmtpPort: dovecot.ports.lmtp,
    smtpPort: sink.port,
    outbox,
    pid: process.pid,
  };
  const stateFile = join(demoDir, 'state.json');
  writeFileSync(stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });
  return {
    state,
    stateFile,
    dovecot,
    account: {
      email: DEMO_EMAIL,
      imap: { host: '127.0.0.1', port: dovecot.ports.imap, secure: false, user: DEMO_EMAIL, pass },
      smtp: { host: '127.0.0.1', port: sink.port, secure: false, user: SMTP_USER, pass },
      mailboxes: ['INBOX'],
    },
    stop: async () => {
      rmSync(stateFile, { force: true });
      await new Promise((r) => sink.server.close(r));
      await dovecot.dispose();
    },
  };
}

export function readDemoState(dir) {
  try {
    return JSON.parse(readFileSync(join(dir, 'demo', 'state.json'), 'utf8'));
  } catch {
    return null;
  }
}

async function startSmtpSink({ outbox, pass, log }) {
  const port = await freePort();
  let count = 0;
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === SMTP_USER && auth.password === pass) return callback(null, { user: auth.username });
      callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      const chunks = [];
      stream.on('data', (c) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        const file = join(outbox, `${new Date().toISOString().replace(/[:.]/g, '-')}-${++count}.eml`);
        writeFileSync(file, raw);
        const subject = /^Subject: (.*)$/im.exec(raw.toString('utf8'))?.[1] ?? '(no subject)';
        const to = session.envelope.rcptTo.map((r) => r.address).join(', ');
        log(`demo: the SMTP sink received “${subject.trim()}” for ${to} (saved as ${file})`);
        callback();
      });
    },
  });
  server.on('error', (err) => log(`demo: SMTP sink error: ${err.message}`));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return { server, port };
}
