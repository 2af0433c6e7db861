import { MetricsService } from '@pushmail/observability';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParserPool, ParserThreadError } from './parser-pool';

/**
 * A stand-in thread speaking the pool's protocol: echoes the raw text as the subject, dies on
 * "crash", spins forever on a message containing "hang", and busies itself for 40 ms on "busy".
 * Like the real thread it handles one message at a time, in order, and says when it is ready.
 */
const FAKE_THREAD = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ id, request }) => {
  const text = Buffer.from(request.raw).toString();
  if (text === 'crash') process.exit(3);
  if (text.includes('hang')) for (;;);
  if (text === 'busy') { const until = Date.now() + 40; while (Date.now() < until); }
  if (request.envelope) return parentPort.postMessage({ id, json: JSON.stringify({ subject: text, uid: request.envelope.uid }), partIdsUncertain: text === 'unsure' });
  if (text === 'slow') return setTimeout(() => parentPort.postMessage({ id, content: { subject: text } }), 200);
  parentPort.postMessage({ id, content: { subject: text + ' on a thread', part: request.part } });
});
parentPort.postMessage({ ready: true });
`;

const HUNG_MAIL = [
  'From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.test>',
  'To: a@example.test, "B, Bee" <b@example.test>',
  'Subject: =?UTF-8?B?aGFuZyDinIU=?=',
  'Message-ID: <hang@example.test>',
  'Date: Tue, 1 Dec 2026 10:00:00 +0000',
  'Content-Type: text/html',
  '',
  '<p>hang</p>',
].join('\r\n');

const request = (text: string) => ({ raw: Buffer.from(text), part: { accountId: 'acc_1', mailbox: 'INBOX', uid: 7 }, maxBodyChars: 1000 });
const envelope = { accountId: 'acc_1', mailbox: 'INBOX', uidValidity: 1, uid: 7, flags: [], size: 10, receivedAt: new Date(0).toISOString() };

describe('ParserPool', () => {
  let dir: string;
  let script: string;
  const pools: ParserPool[] = [];
  let metrics: MetricsService;
  const start = (threads: number, path = script, timeoutMs?: number) => {
    metrics = new MetricsService();
    const pool = new ParserPool({ threads, timeoutMs: timeoutMs ?? 10_000 }, metrics, path);
    pool.onModuleInit();
    pools.push(pool);
    return pool;
  };
  const timeouts = async () => (await metrics.counter('pushmail_parse_timeouts_total', '').get()).values[0]?.value ?? 0;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pm-parser-'));
    script = join(dir, 'thread.js');
    writeFileSync(script, FAKE_THREAD);
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.onModuleDestroy()));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('parses on its threads, with plain data crossing over', async () => {
    const pool = start(2);
    expect(pool.threadCount).toBe(2);
    const results = await Promise.all(['a', 'b', 'c'].map((t) => pool.parse(request(t))));
    expect(results.map((r) => r.subject)).toEqual(['a on a thread', 'b on a thread', 'c on a thread']);
    // The fake thread echoes the request's `part`, which MailContent does not name: matched, not typed.
    expect(results[0]).toMatchObject({ part: { accountId: 'acc_1', mailbox: 'INBOX', uid: 7 } });
  });

  it('answers with the finished message as JSON when given the IMAP envelope', async () => {
    const threaded = start(1);
    const answer = await threaded.parseToJson(request('x'), envelope);
    expect(JSON.parse(answer.json)).toEqual({ subject: 'x', uid: 7 });
    expect(answer.partIdsUncertain).toBe(false);
    expect((await threaded.parseToJson(request('unsure'), envelope)).partIdsUncertain).toBe(true);
    const raw = 'Subject: inline\r\n\r\nbody';
    const inlineAnswer = await start(0).parseToJson({ ...request(''), raw: Buffer.from(raw) }, envelope);
    expect(inlineAnswer.partIdsUncertain).toBe(false);
    const inline = JSON.parse(inlineAnswer.json);
    expect(inline).toMatchObject({ subject: 'inline', uid: 7, uidValidity: 1, receivedAt: envelope.receivedAt, text: expect.stringContaining('body') });
  });

  it('leaves a pooled Buffer usable: what is transferred is a copy', async () => {
    const pool = start(1);
    const small = Buffer.from('pooled'); // small Buffers share Node's 8 KB pool
    const neighbour = Buffer.from('neighbour');
    await pool.parse({ ...request(''), raw: small });
    expect([small.toString(), neighbour.toString()]).toEqual(['pooled', 'neighbour']);
  });

  it('a thread that dies fails only the messages it held, and is replaced', async () => {
    const pool = start(1);
    const slow = pool.parse(request('slow')).catch((err: Error) => err);
    const crash = pool.parse(request('crash')).catch((err: Error) => err);
    expect(await crash).toBeInstanceOf(ParserThreadError);
    expect(await slow).toBeInstanceOf(ParserThreadError);
    const after = await pool.parse(request('next'));
    expect(after.subject).toBe('next on a thread');
    expect(pool.threadCount).toBe(1);
  });

  it('a parse past PARSE_TIMEOUT_MS terminates its thread: that message gets its headers and parse_timeout, the ones queued behind it are parsed again', async () => {
    const pool = start(1, script, 300);
    const began = performance.now();
    const hung = pool.parse({ ...request(''), raw: Buffer.from(HUNG_MAIL) });
    const behind = ['a', 'b', 'c'].map((t) => pool.parse(request(t)));
    const content = await hung;
    expect(performance.now() - began).toBeGreaterThanOrEqual(290);
    expect(content).toMatchObject({
      subject: 'hang ✅',
      from: { name: 'Jürgen', address: 'juergen@example.test' },
      to: [
        { name: '', address: 'a@example.test' },
        { name: 'B, Bee', address: 'b@example.test' },
      ],
      messageId: '<hang@example.test>',
      date: '2026-12-01T10:00:00.000Z',
      text: '',
      html: null,
      attachments: [],
      parseWarnings: ['parse_timeout'],
    });
    // Not failed: parsed again on the fresh thread.
    expect((await Promise.all(behind)).map((r) => r.subject)).toEqual(['a on a thread', 'b on a thread', 'c on a thread']);
    expect(pool.threadCount).toBe(1);
    expect(await timeouts()).toBe(1);
    expect((await pool.parse(request('after'))).subject).toBe('after on a thread');
  });

  it('a timed-out message headed for the event log comes back as its finished JSON', async () => {
    const pool = start(1, script, 200);
    const answer = await pool.parseToJson({ ...request(''), raw: Buffer.from(HUNG_MAIL) }, envelope);
    expect(answer.partIdsUncertain).toBe(false);
    expect(JSON.parse(answer.json)).toMatchObject({ accountId: 'acc_1', uid: 7, uidValidity: 1, subject: 'hang ✅', text: '', parseWarnings: ['parse_timeout'] });
  });

  it('times each message from when the thread starts on it, not from when it was queued', async () => {
    // Twelve 40 ms parses queued at once take 480 ms in all, well past the 300 ms timeout, yet none is slow.
    const pool = start(1, script, 300);
    const results = await Promise.all(Array.from({ length: 12 }, () => pool.parse(request('busy'))));
    expect(results.map((r) => r.subject)).toEqual(Array(12).fill('busy on a thread'));
    expect(await timeouts()).toBe(0);
  });

  it('a main thread too busy to read replies in time does not make the watchdog kill a thread that answered', async () => {
    const pool = start(1, script, 200);
    await pool.parse(request('warm-up'));
    const results = Promise.all(Array.from({ length: 3 }, () => pool.parse(request('busy'))));
    // Blocked (in the check phase) past the timeout while the thread answers all three (120 ms): the
    // next event-loop turn starts with timers, so the watchdog's is due before the replies are read.
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        const until = Date.now() + 450;
        while (Date.now() < until);
        resolve();
      }),
    );
    expect((await results).map((r) => r.subject)).toEqual(Array(3).fill('busy on a thread'));
    expect(await timeouts()).toBe(0);
  });

  it('parses inline with PARSE_THREADS=0, or when the thread script is not built', async () => {
    const raw = 'Subject: =?UTF-8?B?SGVsbG8gd29ybGQ=?=\r\nContent-Type: text/html\r\n\r\n<p onclick="x()">hi <img src="cid:logo"></p>';
    for (const pool of [start(0), start(1, join(dir, 'missing.js'))]) {
      expect(pool.threadCount).toBe(0);
      const content = await pool.parse({ ...request(''), raw: Buffer.from(raw) });
      expect(content.subject).toBe('Hello world');
      expect(content.html).not.toContain('onclick');
    }
  });
});
