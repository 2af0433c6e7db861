/**
 * Where the time of a warm `message.list` goes (issue 16): a standalone probe, not part of
 * `npm run bench`. Run with `npx tsx bench/scenarios/mailbox-hops.ts [messages] [samples]` after
 * `npm run build`. It sets up what the mailbox scenario does (built gateway + fetcher, one big
 * INBOX), then times `samples` warm first pages while Redis MONITOR records every command with
 * Redis' clock (same machine clock as the probe's), and prints, per hop, the median and p95 offset
 * from the client's emit. MONITOR slows Redis a little; the hops' order and size are what it is for.
 * Beside it, the IMAP part alone on a bare session: the floor's UID FETCH, and NOOP + FETCH as the
 * fetcher's pooled session does it.
 */
import { AppProcess, TestDovecot, TestRedis, testStores } from '@pushmail/testing';
import IORedis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { Socket, io } from 'socket.io-client';
import { seedAccounts } from '../lib/accounts';
import { now, sleep } from '../lib/clock';
import { bareClient } from '../lib/imap-clients';
import { PASSWORD, appEnv, startDovecot, startRedis, userName } from '../lib/infra';
import { clientToken } from '../lib/jwt';
import { summarize } from '../lib/stats';
import { seedMaildir } from './mailbox';

const PAGE = 50;
const FETCH_QUERY = { uid: true, envelope: true, flags: true, size: true, bodyStructure: true, internalDate: true } as const;

interface Logged {
  at: number;
  source: string;
  args: string[];
}

/** A short name for a Redis command line, enough to tell the hops apart. */
function label(line: Logged): string {
  const [cmd, ...rest] = line.args;
  const c = cmd.toLowerCase();
  const key = (rest[0] ?? '').replace(/^\{pm-bull\}:imap-commands:/, 'Q:').replace(/^pm:/, '');
  if (c === 'evalsha' || c === 'eval') return `${c} ${rest.slice(2, 5).map((k) => k.replace(/^\{pm-bull\}:imap-commands:/, 'Q:')).join(' ')}`;
  if (c === 'xadd') return `xadd ${key} ${rest.slice(1).join(' ').slice(0, 60)}`;
  return `${c} ${key}`.slice(0, 80);
}

async function main(): Promise<void> {
  const messages = Number(process.argv[2] ?? 10_000);
  const samples = Number(process.argv[3] ?? 50);
  const secretKey = randomBytes(32).toString('base64');
  const jwtSecret = randomBytes(24).toString('base64url');
  const user = userName('hops', 0);
  let redis: TestRedis | undefined;
  let dovecot: TestDovecot | undefined;
  let stores: ReturnType<typeof testStores> | undefined;
  const apps: AppProcess[] = [];
  let socket: Socket | undefined;
  try {
    redis = await startRedis();
    dovecot = await startDovecot({ [user]: PASSWORD });
    seedMaildir(dovecot, user, messages);
    const bare = bareClient(dovecot.imapPort, { user, pass: PASSWORD });
    await bare.connect();
    await bare.mailboxOpen('INBOX', { readOnly: true });
    const uidNext = Number(bare.mailbox && bare.mailbox.uidNext);
    stores = testStores(redis.url, secretKey);
    const [account] = await seedAccounts(stores, [user], dovecot.imapPort, 'hops');
    const env = appEnv(redis.url, secretKey, { AUTH_JWT_SECRET: jwtSecret });
    apps.push(...(await Promise.all([AppProcess.start('fetcher', env), AppProcess.start('gateway', env)])));
    socket = io(apps[1].url, { transports: ['websocket'], auth: { token: clientToken(jwtSecret, account.userId) }, forceNew: true });
    await new Promise<void>((res, rej) => {
      socket!.once('connect', () => res());
      socket!.once('connect_error', (e) => rej(e));
    });
    const list = async () => {
      const ack = (await socket!.timeout(60_000).emitWithAck('message.list' as never, { accountId: account.id, mailbox: 'INBOX', limit: PAGE } as never)) as { ok: boolean };
      if (!ack.ok) throw new Error(`message.list: ${JSON.stringify(ack)}`);
    };
    await list();
    await list();

    const monitor = await new IORedis(redis.url).monitor();
    const lines: Logged[] = [];
    monitor.on('monitor', (time: string, args: string[], source: string) => lines.push({ at: Number(time) * 1000, source, args }));
    await sleep(200);
    const windows: Array<{ start: number; end: number }> = [];
    for (let i = 0; i < samples; i++) {
      await sleep(60);
      const start = now();
      await list();
      windows.push({ start, end: now() });
    }
    await sleep(200);
    monitor.disconnect();

    // Per sample: each labelled command's offset from the emit; the first of a label counts.
    const offsets = new Map<string, number[]>();
    let printed = 0;
    for (const w of windows) {
      const inside = lines.filter((l) => l.at >= w.start && l.at <= w.end && !l.args[0].toLowerCase().startsWith('info'));
      const seen = new Set<string>();
      if (printed++ < 2) {
        console.log(`\nsample: ${(w.end - w.start).toFixed(2)} ms`);
        for (const l of inside) console.log(`  +${(l.at - w.start).toFixed(2).padStart(6)} ${l.source.padEnd(22)} ${label(l)}`);
      }
      for (const l of inside) {
        if (l.source === 'lua') continue;
        const name = `${l.source.split(':').pop()} ${label(l)}`.replace(/^\d+/, (p) => `:${p}`);
        const key = name.replace(/ [0-9a-zA-Z_-]{20,}$/, '').replace(/:\d+ /, ' ');
        if (seen.has(key)) continue;
        seen.add(key);
        offsets.set(key, [...(offsets.get(key) ?? []), l.at - w.start]);
      }
      offsets.set('ack', [...(offsets.get('ack') ?? []), w.end - w.start]);
    }
    console.log('\noffset from emit (ms), over the samples where the hop occurred:');
    const rows = [...offsets.entries()].map(([k, v]) => ({ k, n: v.length, s: summarize(v) })).sort((a, b) => (a.s?.p50 ?? 0) - (b.s?.p50 ?? 0));
    for (const r of rows) console.log(`  p50 ${r.s?.p50.toFixed(2).padStart(6)}  p95 ${r.s?.p95.toFixed(2).padStart(6)}  n=${String(r.n).padStart(3)}  ${r.k}`);

    // The IMAP part alone, on a bare session with INBOX selected.
    const timed = async (what: string, fn: () => Promise<void>) => {
      const t: number[] = [];
      for (let i = 0; i < samples; i++) {
        const t0 = now();
        await fn();
        t.push(now() - t0);
      }
      const s = summarize(t);
      console.log(`  ${what}: p50 ${s?.p50.toFixed(2)} p95 ${s?.p95.toFixed(2)} ms`);
    };
    console.log('\nbare imapflow, INBOX selected:');
    await timed('UID FETCH newest 50 (the floor)', async () => {
      for await (const _m of bare.fetch(`${uidNext - PAGE}:*`, FETCH_QUERY, { uid: true })) void _m;
    });
    await timed('NOOP', async () => {
      await bare.noop();
    });
    await timed('NOOP + FETCH by sequence (the fetcher today)', async () => {
      await bare.noop();
      const exists = bare.mailbox ? bare.mailbox.exists : 0;
      await bare.fetchAll(`${exists - PAGE + 1}:*`, { uid: true, flags: true, envelope: true, size: true, bodyStructure: true });
    });
    await bare.logout();
  } finally {
    socket?.close();
    for (const a of apps) await a.stop().catch(() => undefined);
    await stores?.close().catch(() => undefined);
    await dovecot?.dispose().catch(() => undefined);
    await redis?.dispose().catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
