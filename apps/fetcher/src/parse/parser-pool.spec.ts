import { ConfigService } from '@pushmail/config';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FetcherEnv } from '../config';
import { ParserPool, ParserThreadError } from './parser-pool';

/** A stand-in thread speaking the pool's protocol: echoes the raw text as the subject, or dies on "crash". */
const FAKE_THREAD = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ id, request }) => {
  const text = Buffer.from(request.raw).toString();
  if (text === 'crash') process.exit(3);
  if (request.envelope) return parentPort.postMessage({ id, json: JSON.stringify({ subject: text, uid: request.envelope.uid }), partIdsUncertain: text === 'unsure' });
  if (text === 'slow') return setTimeout(() => parentPort.postMessage({ id, content: { subject: text } }), 200);
  parentPort.postMessage({ id, content: { subject: text + ' on a thread', part: request.part } });
});
`;

const config = (threads: number) => new ConfigService({ PARSE_THREADS: threads } as unknown as FetcherEnv);
const request = (text: string) => ({ raw: Buffer.from(text), part: { accountId: 'acc_1', mailbox: 'INBOX', uid: 7 }, maxBodyChars: 1000 });

describe('ParserPool', () => {
  let dir: string;
  let script: string;
  const pools: ParserPool[] = [];
  const start = (threads: number, path = script) => {
    const pool = new ParserPool(config(threads), path);
    pool.onModuleInit();
    pools.push(pool);
    return pool;
  };

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
    expect((results[0] as unknown as { part: unknown }).part).toEqual({ accountId: 'acc_1', mailbox: 'INBOX', uid: 7 });
  });

  it('answers with the finished message as JSON when given the IMAP envelope', async () => {
    const envelope = { accountId: 'acc_1', mailbox: 'INBOX', uidValidity: 1, uid: 7, flags: [], size: 10, receivedAt: new Date(0).toISOString() };
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
