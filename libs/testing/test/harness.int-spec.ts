import { SmtpSink, TestDovecot, TestRedis, waitFor } from '@pushmail/testing';
import { createTransport } from 'nodemailer';

describe('test harness on real servers', () => {
  let dovecot: TestDovecot;
  let redis: TestRedis;

  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([TestDovecot.start({ users: { 'alice@example.test': 'secret' } }), TestRedis.start()]);
  });
  afterAll(async () => {
    await Promise.all([dovecot?.dispose(), redis?.dispose()]);
  });

  it('delivers over LMTP and imapflow sees EXISTS while IDLE', async () => {
    const client = await dovecot.imap('alice@example.test');
    const lock = await client.getMailboxLock('INBOX');
    try {
      const seen: number[] = [];
      client.on('exists', (e: { count: number }) => seen.push(e.count));
      void client.idle();
      await dovecot.deliver('alice@example.test', { subject: 'smoke' });
      // The client sends nothing while it IDLEs, so this EXISTS was pushed by the server (no elapsed-time bound: a loaded machine is slow, not wrong).
      await waitFor(() => seen.length > 0, 10_000, 'EXISTS');
      expect(seen[0]).toBe(1);
    } finally {
      lock.release();
      await client.logout();
    }
  });

  it('appends over IMAP and survives a restart', async () => {
    await dovecot.append('alice@example.test', 'INBOX', 'Subject: appended\r\n\r\nbody\r\n');
    await dovecot.restart();
    const client = await dovecot.imap('alice@example.test');
    const status = await client.status('INBOX', { messages: true });
    await client.logout();
    expect(status).toMatchObject({ messages: 2 });
  });

  it('adds users to a running server', async () => {
    await dovecot.addUser('bob@example.test', 'pw');
    await dovecot.deliver('bob@example.test', { subject: 'hi bob' });
    const client = await dovecot.imap('bob@example.test');
    expect(await client.status("INBOX", { messages: true })).toMatchObject({ messages: 1 });
    await client.logout();
  });

  it('does not count a delivery that LMTP refused after DATA as delivered', async () => {
    // LMTP answers DATA per recipient; nodemailer resolves even when that answer is a failure. A
    // 1 KB quota checked only after DATA makes Dovecot answer 552 there, deterministically (a 421
    // from a restarting Dovecot is the same reply in the chaos test, but only by timing).
    const full = await TestDovecot.start({
      users: { 'full@example.test': 'pw' },
      extraConfig: ['mail_plugins = $mail_plugins quota', 'lmtp_rcpt_check_quota = no', 'plugin {', '  quota = maildir:User quota', '  quota_rule = *:storage=1K', '}'].join('\n'),
    });
    try {
      await expect(full.deliver('full@example.test', { subject: 'too big', text: 'x'.repeat(8000) })).rejects.toThrow(/not acknowledged: 552/);
      const client = await full.imap('full@example.test');
      expect(await client.status('INBOX', { messages: true })).toMatchObject({ messages: 0 });
      await client.logout();
    } finally {
      await full.dispose();
    }
  });

  it('runs a private redis that restarts with AOF and keeps data', async () => {
    const aof = await TestRedis.start({ appendonly: true });
    const c = aof.client();
    await c.set('k', 'v');
    c.disconnect();
    await aof.restart();
    const c2 = aof.client();
    expect(await c2.get('k')).toBe('v');
    c2.disconnect();
    await aof.dispose();
    const r = redis.client();
    expect(await r.ping()).toBe('PONG');
    r.disconnect();
  });

  it('records SMTP mail, with AUTH and injected failures', async () => {
    const sink = await SmtpSink.start({ auth: { user: 'u', pass: 'p' }, respond: (_m, attempt) => (attempt === 1 ? { code: 451, message: 'try later' } : undefined) });
    const transport = createTransport({ host: '127.0.0.1', port: sink.port, secure: false, auth: { user: 'u', pass: 'p' } });
    await expect(transport.sendMail({ from: 'a@example.test', to: 'b@example.test', text: 'x' })).rejects.toMatchObject({ responseCode: 451 });
    await transport.sendMail({ from: 'a@example.test', to: 'b@example.test', subject: 'ok', text: 'x' });
    transport.close();
    expect(sink.received).toHaveLength(1);
    expect(sink.received[0]).toMatchObject({ from: 'a@example.test', to: ['b@example.test'], user: 'u' });
    expect(sink.received[0].raw).toContain('Subject: ok');
    await sink.stop();
  });
});
