import { REPO_ROOT, builtAppPath, captureOutput, freeConsecutivePorts, spawnTracked, stopProcess, waitFor } from '@pushmail/testing';
import { ImapFlow } from 'imapflow';
import { createTransport } from 'nodemailer';
import { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, Page, chromium } from 'playwright-core';

/**
 * The web client against the demo stack exactly as a newcomer runs it (`npm start -- --demo`):
 * real Redis, Dovecot, watcher, fetcher, gateway and SMTP sink, driven through Debian's Chromium.
 */
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Without the background-networking flags Chromium keeps dialing out, which this closed network refuses.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

interface DemoState {
  email: string;
  pass: string;
  imapPort: number;
  pop3Port: number;
  lmtpPort: number;
  outbox: string;
}

// Steps start and restart processes; the project-level testTimeout does not reach files run through `projects`.
jest.setTimeout(60_000);

/** Whether a listener could bind `port` on loopback now (it is closed again at once). */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createNetServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

describe('web client on the demo stack', () => {
  let stack: ChildProcess;
  let output: { text: () => string };
  let dataDir: string;
  let baseUrl: string;
  let token: string;
  let demo: DemoState;
  let browser: Browser;
  let page: Page;
  /** Whether the watcher's and fetcher's ports could be bound while npm start was starting Dovecot. */
  let bindableWhileStarting: boolean[];
  const consoleErrors: string[] = [];
  const run = Date.now().toString(36);

  const deliver = async (message: { subject: string; text: string; html?: string; messageId: string; attachments?: Array<{ filename: string; content: string | Buffer; cid?: string; contentType?: string }> }) => {
    const transport = createTransport({ host: '127.0.0.1', port: demo.lmtpPort, lmtp: true } as never);
    try {
      await transport.sendMail({ envelope: { from: 'alice@example.test', to: [demo.email] }, from: 'Alice Example <alice@example.test>', to: demo.email, ...message });
    } finally {
      transport.close();
    }
  };
  const imap = async () => {
    const client = new ImapFlow({ host: '127.0.0.1', port: demo.imapPort, secure: false, auth: { user: demo.email, pass: demo.pass }, logger: false });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };
  const row = (subject: string) => page.locator('.msg', { hasText: subject });
  const accountViews = async () =>
    (await (await fetch(`${baseUrl}/api/me/accounts`, { headers: { authorization: `Bearer ${token}` } })).json()) as Array<{ id: string; email: string; state: string }>;
  /** The apps' recent log lines, for a failure that depends on what the servers did. */
  const logTails = () =>
    readdirSync(join(dataDir, 'logs'))
      .map((file) => `--- ${file}\n${readFileSync(join(dataDir, 'logs', file), 'utf8').split('\n').slice(-30).join('\n')}`)
      .join('\n');
  /**
   * Test instrumentation, installed in the top page only (an init script would also run in the
   * sandboxed message frames, which refuse scripts): it records every notification the page shows
   * (the real API still runs underneath) and every text of the connection indicator.
   */
  const INSTRUMENT = `window.__notified = [];
        // Every text the connection indicator shows, so a brief state is not missed between polls.
        window.__connection = [];
        new MutationObserver(() => {
          const text = document.querySelector('[data-testid=connection]')?.textContent;
          if (text && window.__connection.at(-1) !== text) window.__connection.push(text);
        }).observe(document, { subtree: true, childList: true, characterData: true });
        if (window.Notification) {
          const Real = window.Notification;
          window.Notification = class extends Real { constructor(title, options) { super(title, options); window.__notified.push(title); } };
        }`;

  beforeAll(async () => {
    for (const app of ['watcher', 'fetcher', 'gateway'] as const) builtAppPath(app);
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (npm run preflight installs it), or set CHROMIUM_PATH`);
    if (!existsSync(join(REPO_ROOT, 'dist/web/index.html'))) throw new Error('dist/web is missing: run `npm run build` first (npm test does)');
    mkdirSync(ARTIFACTS, { recursive: true });
    dataDir = mkdtempSync(join(tmpdir(), 'pm-web-'));
    // npm start puts the watcher and fetcher on the next two ports: all three below the ephemeral range.
    const port = await freeConsecutivePorts(3);
    const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn' };
    delete env.REDIS_URL;
    delete env.PORT;
    stack = spawnTracked(
      process.execPath,
      ['scripts/start.mjs', '--demo', '--demo-interval', '0', '--no-build', '--port', String(port), '--data-dir', dataDir],
      { cwd: REPO_ROOT, env },
    );
    output = captureOutput(stack);
    // Dovecot takes about a second to start, and picks free ports of its own meanwhile.
    await waitFor(() => output.text().includes('starting the demo mail server'), 60_000, 'npm start to start the demo mail server', 10).catch((err: Error) => {
      throw new Error(`${err.message}\n${output.text()}`);
    });
    bindableWhileStarting = await Promise.all([port + 1, port + 2].map(canBind));
    await waitFor(
      () => {
        if (stack.exitCode !== null) throw new Error(`npm start exited with ${stack.exitCode}:\n${output.text()}`);
        return output.text().includes('Press Ctrl-C to stop.');
      },
      90_000,
      'npm start -- --demo to print its greeting',
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${output.text()}`);
    });
    const link = /(http:\/\/\S+)\/#token=(\S+)/.exec(output.text());
    if (!link) throw new Error(`no sign-in link in:\n${output.text()}`);
    baseUrl = link[1].replace('localhost', '127.0.0.1');
    token = link[2];
    demo = JSON.parse(readFileSync(join(dataDir, 'demo', 'state.json'), 'utf8')) as DemoState;

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(err.message));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (stack) await stopProcess(stack, 'SIGTERM', 30_000);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('holds the watcher and fetcher ports from its start, so the servers it starts first cannot take them', () => {
    expect(bindableWhileStarting).toEqual([false, false]);
  });

  it('signs in with the link npm start prints', async () => {
    await page.goto(`${baseUrl}/#token=${token}`);
    await page.evaluate(INSTRUMENT);
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });
    await page.getByText(demo.email).first().waitFor();
    // The token leaves the address bar once it is stored.
    expect(page.url()).not.toContain('token=');
  });

  it('sends a refused token back to the sign-in form, saying why', async () => {
    const other = await browser.newPage();
    try {
      await other.goto(`${baseUrl}/#token=not-a-valid-token`);
      await other.getByRole('alert').filter({ hasText: 'refused this token' }).waitFor({ timeout: 10_000 });
      await other.getByLabel('Token').waitFor();
    } finally {
      await other.close();
    }
  });

  const subject = `Quarterly numbers ${run}`;
  const messageId = `<web-${run}@example.test>`;

  it('shows a message delivered over LMTP at the top of the list', async () => {
    const started = Date.now();
    await deliver({ subject, messageId, text: 'Hi,\n\nthe quarterly numbers are in. See you Monday.\n\nAlice', html: '<p>Hi,</p><p>the <b>quarterly numbers</b> are in. See you Monday.</p><p>Alice</p>' });
    // The latency is printed, not judged: a 2 s bound failed on a loaded two-core machine. The page's
    // own push path is what is tested; the latency target is the benchmark's.
    await row(subject).waitFor({ timeout: 15_000 });
    const latencyMs = Date.now() - started;
    process.stdout.write(`web client: LMTP delivery → row in the list in ${latencyMs} ms\n`);
    await expect(page.locator('.msg').first().textContent()).resolves.toContain(subject);
    await page.screenshot({ path: join(ARTIFACTS, 'web-inbox.png') });
  });

  it('opening it shows the message and marks it \\Seen on the server', async () => {
    await expect(page.getByTestId('unread-count').textContent()).resolves.toBe('1 unread');
    await row(subject).click();
    await page.getByTestId('unread-count').filter({ hasText: 'all read' }).waitFor();
    await expect(page.getByTestId('reader-subject').textContent()).resolves.toBe(subject);
    const frame = page.frameLocator('[data-testid=message-frame]');
    await frame.getByText('quarterly numbers').waitFor();
    const uid = Number(await row(subject).getAttribute('data-uid'));
    const client = await imap();
    try {
      await waitFor(async () => {
        const lock = await client.getMailboxLock('INBOX');
        try {
          const msg = await client.fetchOne(String(uid), { flags: true }, { uid: true });
          return msg && msg.flags?.has('\\Seen');
        } finally {
          lock.release();
        }
      }, 10_000, `\\Seen on uid ${uid}`, 200);
    } finally {
      await client.logout().catch(() => undefined);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'web-message.png') });
  });

  it('a reply (with an attachment) reaches the SMTP sink with the right In-Reply-To', async () => {
    await page.getByRole('button', { name: 'Reply' }).click();
    const body = page.locator('.compose textarea');
    await body.focus();
    await page.keyboard.type('Thanks, Alice — looks good.');
    await page.locator('.compose input[type=file]').setInputFiles({ name: 'reply-notes.txt', mimeType: 'text/plain', buffer: Buffer.from(`reply attachment ${run}`) });
    await page.locator('.compose .chip', { hasText: 'reply-notes.txt' }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'web-reply.png') });
    await page.locator('.compose button[type=submit]').click();
    await page.getByTestId('send-state').filter({ hasText: 'Sent' }).waitFor({ timeout: 20_000 });
    let raw = '';
    await waitFor(() => {
      const files = existsSync(demo.outbox) ? readdirSync(demo.outbox) : [];
      raw = files.map((f) => readFileSync(join(demo.outbox, f), 'utf8')).find((m) => m.includes(messageId)) ?? '';
      return raw.length > 0;
    }, 10_000, 'the reply in the SMTP sink');
    const header = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'im').exec(raw)?.[1].trim();
    expect(header('In-Reply-To')).toBe(messageId);
    expect(header('References')).toContain(messageId);
    expect(header('Subject')).toBe(`Re: ${subject}`);
    expect(raw).toContain('Thanks, Alice');
    expect(raw).toMatch(/filename="?reply-notes\.txt/);
    expect(raw).toContain(Buffer.from(`reply attachment ${run}`).toString('base64'));
  });

  it("an XSS message's payload does not run", async () => {
    const xssSubject = `<img src=x onerror="window.__pwned=1"> Invoice ${run}`;
    const vectors = [
      '<img src=x onerror="window.top.__pwned=1;parent.__pwned=1">',
      '<script>window.top.__pwned=1</script>',
      '<svg onload="top.__pwned=1"><circle r="5"/></svg>',
      '<a id="jslink" href="javascript:top.__pwned=1">open invoice</a>',
      '<iframe srcdoc="<script>top.__pwned=1</script>"></iframe>',
      '<body onload="top.__pwned=1"><div style="background:url(javascript:top.__pwned=1)">styled</div>',
      '<form action="javascript:top.__pwned=1"><button id="jsbutton">pay</button></form>',
      '<p>Payment details</p>',
    ];
    await deliver({ subject: xssSubject, messageId: `<xss-${run}@example.test>`, text: 'see html', html: vectors.join('\n') });
    await row(`Invoice ${run}`).waitFor({ timeout: 5000 });
    await row(`Invoice ${run}`).click();
    const frame = page.frameLocator('[data-testid=message-frame]');
    await frame.getByText('Payment details').waitFor();
    const link = frame.locator('a', { hasText: 'open invoice' });
    if (await link.count()) await link.click({ timeout: 2000 }).catch(() => undefined);
    await page.waitForTimeout(500);
    expect(await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned)).toBeUndefined();
    // The subject is shown as text, never parsed as markup.
    await expect(page.getByTestId('reader-subject').textContent()).resolves.toBe(xssSubject);
    const sandbox = await page.getAttribute('[data-testid=message-frame]', 'sandbox');
    expect(sandbox).not.toContain('allow-scripts');
    expect(sandbox).not.toContain('allow-same-origin');
  });

  it('downloads an attachment', async () => {
    const attachmentSubject = `Notes ${run}`;
    await deliver({ subject: attachmentSubject, messageId: `<att-${run}@example.test>`, text: 'notes attached', attachments: [{ filename: 'notes.txt', content: `attachment body ${run}` }] });
    await row(attachmentSubject).waitFor({ timeout: 5000 });
    await row(attachmentSubject).click();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: /notes\.txt/ }).click()]);
    expect(download.suggestedFilename()).toBe('notes.txt');
    expect(readFileSync((await download.path())!, 'utf8')).toBe(`attachment body ${run}`);
  });

  it('shows inline (cid:) images through signed part links, never with the client token in the frame', async () => {
    const gif = Buffer.from('R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=', 'base64');
    const inlineSubject = `Logo ${run}`;
    await deliver({
      subject: inlineSubject,
      messageId: `<logo-${run}@example.test>`,
      text: 'logo',
      html: '<p>Our logo</p><img id="logo" src="cid:logo@pushmail.test" alt="logo" width="20" height="20">',
      attachments: [{ filename: 'logo.gif', content: gif, contentType: 'image/gif', cid: 'logo@pushmail.test' }],
    });
    await row(inlineSubject).waitFor({ timeout: 5000 });
    await row(inlineSubject).click();
    const frame = page.frameLocator('[data-testid=message-frame]');
    await frame.getByText('Our logo').waitFor();
    // Found by alt, not by id: the fetcher's sanitizer keeps no id attributes from mail HTML.
    const logo = frame.locator('img[alt="logo"]');
    await waitFor(async () => (await logo.evaluate((img) => Number(Reflect.get(img, 'naturalWidth')))) > 0, 5000, 'the inline image to load');
    const src = new URL((await logo.getAttribute('src')) ?? '');
    expect(src.origin).toBe(new URL(baseUrl).origin);
    expect(src.pathname).toMatch(/^\/api\/accounts\/.+\/parts\/[^/]+$/);
    expect([...src.searchParams.keys()].sort()).toEqual(['exp', 'sig']);
    const srcdoc = (await page.getAttribute('[data-testid=message-frame]', 'srcdoc')) ?? '';
    expect(srcdoc).toContain('sig=');
    expect(srcdoc).not.toContain(token);
    expect(srcdoc).not.toContain('access_token');
  });

  it('loads remote images only after the reader allows them', async () => {
    let requests = 0;
    const images = createServer((_req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'image/gif' }).end(Buffer.from('R0lGODlhAQABAAAAACwAAAAAAQABAAA=', 'base64'));
    });
    await new Promise<void>((r) => images.listen(0, '127.0.0.1', r));
    try {
      const { port } = images.address() as { port: number };
      const newsletterSubject = `Newsletter ${run}`;
      await deliver({
        subject: newsletterSubject,
        messageId: `<news-${run}@example.test>`,
        text: 'news',
        html: `<p>This week in news</p><img src="http://127.0.0.1:${port}/header.gif" alt="header" width="200" height="40">`,
      });
      await row(newsletterSubject).waitFor({ timeout: 5000 });
      await row(newsletterSubject).click();
      await page.frameLocator('[data-testid=message-frame]').getByText('This week in news').waitFor();
      await page.waitForTimeout(300);
      expect(requests).toBe(0);
      await page.getByRole('button', { name: 'Show images' }).click();
      await waitFor(() => requests > 0, 5000, 'the remote image to load once allowed');
    } finally {
      images.close();
    }
  });

  it('notifies of new mail while the tab is hidden, once the user allowed it', async () => {
    const ask = page.getByRole('button', { name: 'Notify me of new mail' });
    await ask.waitFor();
    await page.context().grantPermissions(['notifications']);
    await ask.click();
    await ask.waitFor({ state: 'detached' });
    await page.evaluate("Object.defineProperty(document, 'hidden', { configurable: true, get: () => true })");
    const notifySubject = `Ping while away ${run}`;
    await deliver({ subject: notifySubject, messageId: `<ping-${run}@example.test>`, text: 'ping' });
    await row(notifySubject).waitFor({ timeout: 5000 });
    await waitFor(async () => ((await page.evaluate('window.__notified')) as string[]).includes(notifySubject), 5000, 'the notification');
    await page.evaluate("delete document.hidden");
  });

  it('restarts a crashed gateway, and the mail that arrived meanwhile shows up after the reconnect', async () => {
    const run1 = JSON.parse(readFileSync(join(dataDir, 'run.json'), 'utf8')) as { pids: Record<string, number> };
    await page.evaluate('window.__connection = []');
    process.kill(run1.pids.gateway, 'SIGKILL');
    const missedSubject = `While you were away ${run}`;
    await deliver({ subject: missedSubject, messageId: `<away-${run}@example.test>`, text: 'sent while the gateway was down' });
    await row(missedSubject).waitFor({ timeout: 30_000 });
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor({ timeout: 5000 });
    const shown = (await page.evaluate('window.__connection')) as string[];
    expect(shown[0]).toMatch(/Reconnecting|Offline/);
    expect(shown.at(-1)).toBe('Live');
    expect(output.text()).toMatch(/gateway was killed by SIGKILL; restarting in \d+ s/);
    await waitFor(() => output.text().includes('gateway ready again'), 10_000, 'the supervisor to report the gateway ready');
  });

  it('fits a phone-sized screen', async () => {
    await page.setViewportSize({ width: 390, height: 780 });
    await page.getByRole('button', { name: 'Back to the list' }).click();
    await row(subject).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'web-phone-inbox.png') });
    await row(subject).click();
    await page.frameLocator('[data-testid=message-frame]').getByText('quarterly numbers').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'web-phone-message.png') });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('adds an account through the form, and removes it', async () => {
    const email = `second-${run}@pushmail.test`;
    await page.getByRole('button', { name: '+ Add account' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add an account' });
    await dialog.getByLabel('Provider').selectOption('custom');
    await dialog.getByLabel('E-mail address').fill(email);
    await dialog.getByLabel(/User name/).fill(demo.email);
    await dialog.getByLabel('Password').fill(demo.pass);
    const imapBox = dialog.getByRole('group', { name: 'Incoming (IMAP)' });
    await imapBox.getByLabel('Host').fill('127.0.0.1');
    await imapBox.getByLabel('Port').fill(String(demo.imapPort));
    await imapBox.getByLabel('TLS from the start').uncheck();
    const smtpBox = dialog.getByRole('group', { name: 'Outgoing (SMTP)' });
    await smtpBox.getByLabel('Host').fill('127.0.0.1');
    await smtpBox.getByLabel('Port').fill('2525');
    await smtpBox.getByLabel('TLS from the start').uncheck();
    await dialog.getByRole('button', { name: 'Add account' }).click();
    await dialog.waitFor({ state: 'detached' });
    const added = page.locator('.accounts li', { hasText: email });
    // The watcher connects it: the state line under the address goes away.
    await added
      .locator('.state-connected')
      .waitFor({ timeout: 15_000 })
      .catch(async (err: Error) => {
        throw new Error(`${err.message}\nthe row shows: ${await added.innerText()}\nthe API says: ${JSON.stringify(await accountViews())}\n${logTails()}`);
      });

    page.once('dialog', (d) => void d.accept());
    // The remove button shows on hover (or keyboard focus), as for a mouse user.
    await added.locator('.account-head').hover();
    await page.getByRole('button', { name: `Remove ${email}` }).click();
    await added.waitFor({ state: 'detached' });
    expect((await accountViews()).map((v) => v.email)).toEqual([demo.email]);
  });

  it('adds a POP3 account through the form: the sidebar says how often it is checked instead of the live dot', async () => {
    const email = `pop3-${run}@pushmail.test`;
    await page.getByRole('button', { name: '+ Add account' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add an account' });
    await dialog.getByLabel('Provider').selectOption('custom');
    await dialog.getByLabel('E-mail address').fill(email);
    await dialog.getByLabel(/User name/).fill(demo.email);
    await dialog.getByLabel('Password').fill(demo.pass);
    await dialog.getByLabel('Incoming mail').selectOption('pop3');
    const popBox = dialog.getByRole('group', { name: 'Incoming (POP3)' });
    await popBox.getByLabel('Host').fill('127.0.0.1');
    await popBox.getByLabel('Port').fill(String(demo.pop3Port));
    await popBox.getByLabel('TLS from the start').uncheck();
    const smtpBox = dialog.getByRole('group', { name: 'Outgoing (SMTP)' });
    await smtpBox.getByLabel('Host').fill('127.0.0.1');
    await smtpBox.getByLabel('Port').fill('2525');
    await smtpBox.getByLabel('TLS from the start').uncheck();
    await dialog.getByRole('button', { name: 'Add account' }).click();
    await dialog.waitFor({ state: 'detached' });

    const added = page.locator('.accounts li', { hasText: email });
    // Polled every 60 s (the default interval): a badge that says so, no live dot.
    await added
      .locator('.poll-badge.state-connected', { hasText: 'checked every 60 s' })
      .waitFor({ timeout: 15_000 })
      .catch(async (err: Error) => {
        throw new Error(`${err.message}\nthe row shows: ${await added.innerText()}\nthe API says: ${JSON.stringify(await accountViews())}\n${logTails()}`);
      });
    expect(await added.locator('.state-dot').count()).toBe(0);
    const view = (await accountViews()).find((v) => v.email === email);
    expect(view).toMatchObject({ protocol: 'pop3', delivery: 'poll', pollIntervalSeconds: 60, state: 'connected' });
    // The IMAP account keeps its live dot.
    expect(await page.locator('.accounts li', { hasText: demo.email }).first().locator('.state-dot').count()).toBe(1);

    // The operator changes the interval (admin API): the open page shows it without a reload (account.changed).
    const adminToken = /^ADMIN_TOKEN=(.+)$/m.exec(readFileSync(join(dataDir, 'secrets.env'), 'utf8'))?.[1];
    const patched = await fetch(`${baseUrl}/api/accounts/${view!.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ pollIntervalSeconds: 120 }),
    });
    expect(patched.status).toBe(200);
    await added.locator('.poll-badge', { hasText: 'checked every 120 s' }).waitFor({ timeout: 5000 });

    page.once('dialog', (d) => void d.accept());
    await added.locator('.account-head').hover();
    await page.getByRole('button', { name: `Remove ${email}` }).click();
    await added.waitFor({ state: 'detached' });
    expect((await accountViews()).map((v) => v.email)).toEqual([demo.email]);
  });

  it('shows an account added in another tab, and drops it (and its open folder) when removed there, without a reload', async () => {
    const email = `other-tab-${run}@pushmail.test`;
    const asUser = (method: string, path: string, body?: unknown) =>
      fetch(`${baseUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const server = { host: '127.0.0.1', port: demo.imapPort, secure: false, user: demo.email, pass: demo.pass };
    const created = await asUser('POST', '/api/me/accounts', { email, imap: server, smtp: { ...server, port: 2525 } });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };

    const added = page.locator('.accounts li', { hasText: email });
    await added.locator('.state-dot').waitFor({ timeout: 5000 });
    // Its inbox opens as any other: the account was subscribed, not only listed.
    await added.getByRole('button', { name: /Inbox/ }).first().click();
    await page.locator('.list-head h2', { hasText: email }).waitFor({ timeout: 5000 });

    expect((await asUser('DELETE', `/api/me/accounts/${id}`)).status).toBe(204);
    await added.waitFor({ state: 'detached', timeout: 5000 });
    // The open folder was that account's: the page goes back to all inboxes.
    await page.locator('.list-head h2', { hasText: 'All inboxes' }).waitFor({ timeout: 5000 });
  });

  it('has no serious or critical accessibility violations (axe-core) on the inbox, the reader and compose', async () => {
    // Evaluated through DevTools, so the page's CSP (no inline scripts) does not apply to the checker.
    await page.evaluate(readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8'));
    const audit = async (view: string) => {
      // Audit a settled page: a row's 4 s arrival highlight, caught mid-fade, is not what a reader sees.
      await page.evaluate(`Promise.all(document.getAnimations().filter((a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity).map((a) => a.finished.catch(() => undefined)))`);
      // The sandboxed message frame runs no scripts, so axe cannot enter it; its contents are the sender's.
      const violations = (await page.evaluate(
        `axe.run(document, { iframes: false, resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })))`,
      )) as Array<{ id: string; impact: string; nodes: string[] }>;
      return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ view, ...v }));
    };
    await page.getByRole('button', { name: 'All inboxes' }).click();
    await page.keyboard.press('Escape');
    await row(subject).waitFor();
    const inbox = await audit('inbox');
    await row(subject).click();
    await page.getByTestId('reader-subject').filter({ hasText: subject }).waitFor();
    const reader = await audit('reader');
    await page.getByRole('button', { name: 'Compose' }).click();
    await page.getByRole('dialog').waitFor();
    const compose = await audit('compose');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    expect([...inbox, ...reader, ...compose]).toEqual([]);
    // axe rates these two moderate; the issue asks for both.
    expect(await page.locator('main').count()).toBe(1);
    await expect(page.locator('h1').textContent()).resolves.toContain('pushmail');
  });

  it('lists a folder that already held mail: folders with unread counts, the newest 50, older on scroll, search, delete and move by keyboard', async () => {
    // 60 messages on the server in a folder pushmail has never watched, before the page (re)loads.
    const client = await imap();
    try {
      await client.mailboxCreate('History');
      for (let n = 1; n <= 60; n++) {
        const body = n === 12 ? 'the needle is here' : `old message ${n}`;
        await client.append('History', `From: Old Friend <old@example.test>\r\nTo: ${demo.email}\r\nSubject: History ${n}\r\nMessage-ID: <hist-${n}-${run}@example.test>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n${body}\r\n`, []);
      }
    } finally {
      await client.logout();
    }
    await page.reload();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });
    // The inbox lists its history and replays its events: one row per message, not two.
    await row(subject).waitFor();
    await page.waitForTimeout(500);
    expect(await row(subject).count()).toBe(1);

    // Special folders first (Inbox on top), then the rest; the unread count is the server's.
    const folder = (path: string) => page.locator(`.folders [data-folder="${path}"]`);
    await folder('History').waitFor();
    const order = await page.locator('.folders [data-folder]').evaluateAll((els) => els.map((el) => el.getAttribute('data-folder')));
    expect(order[0]).toBe('INBOX');
    expect(order.indexOf('Trash')).toBeLessThan(order.indexOf('History'));
    await expect(folder('History').locator('.badge').textContent()).resolves.toBe('60');

    await folder('History').click();
    const rows = page.locator('.msg');
    await rows.nth(49).waitFor();
    expect(await rows.count()).toBe(50);
    await expect(rows.first().textContent()).resolves.toContain('History 60');
    await page.getByTestId('message-list').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await rows.nth(59).waitFor();
    expect(await rows.count()).toBe(60);
    await expect(rows.last().textContent()).resolves.toContain('History 1');

    await page.getByLabel('Search this folder').fill('needle');
    await page.getByLabel('Search this folder').press('Enter');
    await waitFor(async () => (await rows.count()) === 1, 10_000, 'one search result');
    await expect(rows.first().textContent()).resolves.toContain('History 12');
    await page.getByRole('button', { name: 'Clear search' }).click();
    await rows.nth(59).waitFor();

    const uidsIn = async (mailbox: string) => {
      const c = await imap();
      try {
        await c.mailboxOpen(mailbox);
        return ((await c.search({ all: true }, { uid: true })) || []).length;
      } finally {
        await c.logout();
      }
    };
    const trashBefore = await uidsIn('Trash');
    // Open one, delete it with '#': gone from the list and from the folder on the server, in the Trash.
    await row('History 60').click();
    await page.getByTestId('reader-subject').filter({ hasText: 'History 60' }).waitFor();
    await page.keyboard.press('#');
    await row('History 60').waitFor({ state: 'detached' });
    await waitFor(async () => (await uidsIn('History')) === 59, 10_000, 'the delete on the server');
    expect(await uidsIn('Trash')).toBe(trashBefore + 1);

    // Move with 'v' and the keyboard only: the folder picker takes focus.
    await row('History 59').click();
    await page.getByTestId('reader-subject').filter({ hasText: 'History 59' }).waitFor();
    await page.keyboard.press('v');
    await expect(page.evaluate('document.activeElement?.id')).resolves.toBe('move-to');
    await page.locator('#move-to').selectOption('Junk');
    await row('History 59').waitFor({ state: 'detached' });
    await waitFor(async () => (await uidsIn('Junk')) === 1, 10_000, 'the move on the server');
    expect(await uidsIn('History')).toBe(58);

    // Archive with 'e': the account has no Archive folder yet, so one is made.
    await row('History 58').click();
    await page.getByTestId('reader-subject').filter({ hasText: 'History 58' }).waitFor();
    await page.keyboard.press('e');
    await row('History 58').waitFor({ state: 'detached' });
    await waitFor(async () => (await uidsIn('History')) === 57, 10_000, 'the archive on the server');
    expect(await uidsIn('Archive')).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'web-folder.png') });
  });

  it('moves a folder’s unread count live when mail lands in a folder other than INBOX (an account watching "*", Sent from another client)', async () => {
    // The demo account watches INBOX only; one added without `mailboxes` watches every folder ("*").
    const email = `every-folder-${run}@pushmail.test`;
    const imapSettings = { host: '127.0.0.1', port: demo.imapPort, secure: false, user: demo.email, pass: demo.pass };
    const created = await fetch(`${baseUrl}/api/me/accounts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email, imap: imapSettings, smtp: { ...imapSettings, port: 2525 } }),
    });
    expect(created.status).toBe(201);
    const view = (await created.json()) as { id: string; mailboxes: string[] };
    expect(view.mailboxes).toEqual(['*']);
    await waitFor(async () => (await accountViews()).find((v) => v.email === email)?.state === 'connected', 15_000, 'the new account connected');
    await page.reload();
    await page.getByTestId('connection').filter({ hasText: 'Live' }).waitFor({ timeout: 10_000 });
    const sent = page.getByRole('list', { name: `Folders of ${email}` }).locator('[data-folder="Sent"]');
    await sent.waitFor();
    const unseenIn = async (mailbox: string) => {
      const c = await imap();
      try {
        const status = await c.status(mailbox, { unseen: true });
        return (status && status.unseen) || 0;
      } finally {
        await c.logout();
      }
    };
    const before = await unseenIn('Sent');
    const badge = async () => Number((await sent.locator('.badge').count()) ? await sent.locator('.badge').textContent() : 0);
    expect(await badge()).toBe(before);
    // Let the watcher's session finish its first pass over the folders, so the append is live news.
    await page.waitForTimeout(1000);

    // Another client files a message into Sent (unread, to make the count move): no reload from here on.
    const other = await imap();
    try {
      await other.append('Sent', `From: ${demo.email}\r\nTo: bob@example.test\r\nSubject: Sent elsewhere ${run}\r\nMessage-ID: <sent-${run}@example.test>\r\n\r\nfrom another client\r\n`, []);
    } finally {
      await other.logout();
    }
    await waitFor(async () => (await badge()) === before + 1, 10_000, 'the Sent badge to count the new message').catch(async (err: Error) => {
      throw new Error(`${err.message}: shows ${await badge()}, the server has ${await unseenIn('Sent')} unseen\n${logTails()}`);
    });
    await page.screenshot({ path: join(ARTIFACTS, 'web-folder-live.png') });

    const removed = await fetch(`${baseUrl}/api/me/accounts/${view.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect(removed.status).toBe(204);
  });

  it('logged no console errors', () => {
    // A dropped socket is reported by the browser itself while the gateway restarts; that one is expected.
    expect(consoleErrors.filter((e) => !/WebSocket connection to .* failed/.test(e))).toEqual([]);
  });

  it('stops every process it started on SIGTERM (as on Ctrl-C)', async () => {
    const { pids } = JSON.parse(readFileSync(join(dataDir, 'run.json'), 'utf8')) as { pids: Record<string, number> };
    expect(Object.keys(pids).sort()).toEqual(['dovecot', 'fetcher', 'gateway', 'redis', 'watcher']);
    await stopProcess(stack, 'SIGTERM', 30_000);
    expect(stack.exitCode).toBe(0);
    const alive = Object.entries(pids).filter(([, pid]) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    expect(alive).toEqual([]);
    expect(existsSync(join(dataDir, 'run.json'))).toBe(false);
  });
});
