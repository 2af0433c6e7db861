import { AppProcess, TestDovecot, TestRedis, testStores } from '@pushmail/testing';
import { BenchAccount, eventLogTotal, seedAccounts, waitAllConnected } from '../lib/accounts';
import { now, pollUntil, sleep } from '../lib/clock';
import { eachLimited } from '../lib/imap-clients';
import { appBuilt, appEnv, makeUsers, startDovecot, startRedis, userName } from '../lib/infra';
import { ScenarioRun, atMost, judged } from '../lib/scenario';
import { round1 } from '../lib/stats';
import { BenchContext, NotRun } from '../lib/types';
import { appTuning } from './tuning';

/** Sizes: the full run's 1,000 idle accounts and 2,000 logged messages; a quick run's tenth. */
export const footprintParams = (quick: boolean) => (quick ? { accounts: 100, eventAccounts: 10, messagesPerAccount: 10 } : { accounts: 1000, eventAccounts: 100, messagesPerAccount: 20 });

/** The budgets (bytes). */
export const IDLE_ACCOUNT_BUDGET = 3 * 1024;
export const EVENT_BUDGET = 2.5 * 1024;

/** A body of ordinary newsletter size (about 6 KB of text and 12 KB of html), so one copy more or less shows. */
const BODY_MARKER = 'FOOTPRINTBODY';
const paragraph = `${BODY_MARKER} Quarterly figures, the plans for next month and a few links to read later. `;
const BODY_TEXT_END = '-- end of message';
const BODY_HTML_END = 'end of the html body';
const body = (i: number) => ({ text: `${paragraph.repeat(60)}\n${BODY_TEXT_END} ${i}`, html: `<div><p>${paragraph.repeat(120)}</p><p><b>${BODY_HTML_END} ${i}</b></p></div>` });

type Stores = ReturnType<typeof testStores>;

/** What Redis' key kinds hold, by `MEMORY USAGE … SAMPLES 0` (exact for streams and sets): kind → keys, bytes. */
export async function memoryByKind(stores: Stores): Promise<Map<string, { keys: number; bytes: number }>> {
  const r = stores.redis.client;
  const out = new Map<string, { keys: number; bytes: number }>();
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await r.scan(cursor, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  for (let i = 0; i < keys.length; i += 500) {
    const chunk = keys.slice(i, i + 500);
    const pipe = r.pipeline();
    for (const key of chunk) pipe.memory('USAGE', key, 'SAMPLES', 0);
    const res = (await pipe.exec()) ?? [];
    res.forEach(([, bytes], j) => {
      const kind = keyKind(chunk[j]);
      const entry = out.get(kind) ?? { keys: 0, bytes: 0 };
      entry.keys++;
      entry.bytes += Number(bytes ?? 0);
      out.set(kind, entry);
    });
  }
  return out;
}

/** `pm:cursor:{acc}:INBOX` → `pm:cursor`; `{pm-bull}:mailbox-events:123` → `{pm-bull}:mailbox-events (jobs and queue)`. */
export function keyKind(key: string): string {
  if (key.startsWith('{pm-bull}:')) return `{pm-bull}:${key.split(':')[1]}`;
  const parts = key.split(':');
  return parts[0] === 'pm' ? `pm:${parts[1]}` : parts[0];
}

export const usedMemory = async (stores: Stores) => Number(/used_memory:(\d+)/.exec(await stores.redis.client.info('memory'))?.[1] ?? NaN);
export const sumKinds = (m: Map<string, { keys: number; bytes: number }>, kinds: (k: string) => boolean) => [...m].filter(([k]) => kinds(k)).reduce((n, [, v]) => n + v.bytes, 0);
/** Key kinds that belong to accounts (settings, state, cursors and their UIDVALIDITY index, lease, the sets that list them). */
const ACCOUNT_KINDS = new Set(['pm:account', 'pm:accounts', 'pm:user', 'pm:state', 'pm:cursor', 'pm:lease', 'pm:mbx-index', 'pm:watchers', 'pm:lease-fence', 'pm:oauth', 'pm:validities']);

/**
 * Redis memory per account and per logged event (issue 21), with Redis' own accounting: `MEMORY
 * USAGE` of every key, grouped by kind, and `INFO memory`'s used_memory before and after. Idle:
 * `accounts` accounts connected by a watcher (settings, state, cursor, lease, index sets). Events:
 * `messagesPerAccount` newsletters delivered by LMTP to `eventAccounts` of them, through the
 * watcher and the fetcher: the event log's summaries and dedupe markers per event beside the
 * bodies, which must be stored once (one `pm:msg` key per message, no body text in any log entry).
 */
export async function footprintScenario(ctx: BenchContext): Promise<void> {
  const { log } = ctx;
  const fp = footprintParams(ctx.quick);
  const run = new ScenarioRun(ctx, 'footprint', fp);
  let redis: TestRedis | undefined;
  let dovecot: TestDovecot | undefined;
  let stores: Stores | undefined;
  const apps: AppProcess[] = [];
  try {
    await run.step('footprint', async (r) => {
      if (!appBuilt('watcher') || !appBuilt('fetcher')) throw new NotRun('dist/apps/watcher or dist/apps/fetcher is not built');
      redis = await startRedis();
      dovecot = await startDovecot(makeUsers('fp', fp.accounts));
      stores = testStores(redis.url, ctx.secretKey);
      const env = appEnv(redis.url, ctx.secretKey);
      apps.push(...(await Promise.all([AppProcess.start('watcher', { ...env, ...appTuning.watcher }), AppProcess.start('fetcher', { ...env, ...appTuning.fetcher })])));
      await sleep(1000);
      const before = await memoryByKind(stores);
      const used0 = await usedMemory(stores);

      // Idle accounts: stored as the admin API does, connected by the watcher, left a moment to settle.
      let t0 = now();
      const accounts: BenchAccount[] = await seedAccounts(stores, Array.from({ length: fp.accounts }, (_, i) => userName('fp', i)), dovecot.imapPort, 'fp');
      const ids = accounts.map((a) => a.id);
      const connected = await waitAllConnected(stores, ids, 120_000);
      if (!connected.at) throw new Error(`not all accounts connected: ${JSON.stringify(connected.counts)}`);
      log(`footprint: ${fp.accounts} accounts connected in ${round1((now() - t0) / 1000)} s`);
      await sleep(3000);
      const idle = await memoryByKind(stores);
      const used1 = await usedMemory(stores);
      const accountBytes = sumKinds(idle, (k) => ACCOUNT_KINDS.has(k)) - sumKinds(before, (k) => ACCOUNT_KINDS.has(k));
      const perAccount = Math.round(accountBytes / fp.accounts);
      const perAccountUsed = Math.round((used1 - used0) / fp.accounts);

      // Events: newsletters to a subset of the accounts, through the whole pipeline.
      const messages = fp.eventAccounts * fp.messagesPerAccount;
      const targets = accounts.slice(0, fp.eventAccounts);
      const used2 = await usedMemory(stores);
      t0 = now();
      const deliveries = targets.flatMap((a, i) => Array.from({ length: fp.messagesPerAccount }, (_, j) => ({ email: a.email, n: i * fp.messagesPerAccount + j })));
      await eachLimited(deliveries, 4, async ({ email, n }) => dovecot!.deliver(email, { subject: `Newsletter ${n}: the quarter in figures`, messageId: `<fp-${n}@bench.test>`, ...body(n) }));
      const logged = await pollUntil(async () => ((await eventLogTotal(stores!, targets.map((a) => a.id))) >= messages ? true : undefined), 180_000, 250);
      if (!logged) throw new Error(`only ${await eventLogTotal(stores, targets.map((a) => a.id))} of ${messages} events logged`);
      log(`footprint: ${messages} messages delivered and logged in ${round1((now() - t0) / 1000)} s`);
      await sleep(2000);
      const busy = await memoryByKind(stores);
      const used3 = await usedMemory(stores);
      const delta = (kind: string) => (busy.get(kind)?.bytes ?? 0) - (idle.get(kind)?.bytes ?? 0);
      const logBytes = delta('pm:events');
      const dedupeBytes = delta('pm:dedupe');
      const bodyBytes = busy.get('pm:msg')?.bytes ?? 0;
      const bodyKeys = busy.get('pm:msg')?.keys ?? 0;
      const jobBytes = delta('{pm-bull}:mailbox-events');
      const perEvent = Math.round((logBytes + dedupeBytes) / messages);
      const perEventUsed = Math.round((used3 - used2 - bodyBytes) / messages);

      // One copy of each body: one stored body per message, and no log entry holding body text.
      let entriesWithBody = 0;
      let summaryBytes = 0;
      for (const a of targets) {
        for (const [, fields] of await stores.redis.client.xrange(`pm:events:{${a.id}}`, '-', '+')) {
          const p = fields[fields.indexOf('p') + 1] ?? '';
          summaryBytes += Buffer.byteLength(p);
          // The ends of the text and html bodies (the summary's preview is only their first ~200 characters).
          if (p.includes(BODY_TEXT_END) || p.includes(BODY_HTML_END)) entriesWithBody++;
        }
      }
      const bodiesOnce = bodyKeys === messages && entriesWithBody === 0;

      Object.assign(r.figures, {
        idleAccountBytes: perAccount,
        idleAccountUsedMemoryBytes: perAccountUsed,
        eventBytesBeyondBody: perEvent,
        eventUsedMemoryBytesBeyondBody: perEventUsed,
        eventLogEntryBytes: Math.round(logBytes / messages),
        dedupeMarkerBytes: Math.round(dedupeBytes / messages),
        summaryJsonBytes: Math.round(summaryBytes / messages),
        bodyBytes: Math.round(bodyBytes / Math.max(1, bodyKeys)),
        jobHistoryBytesPerEvent: Math.round(jobBytes / messages),
        bodyCopiesPerMessage: round1(bodyKeys / messages),
      });
      r.targets.push(
        judged(ctx, atMost('Redis bytes per idle account (settings, state, cursor, lease, index sets; MEMORY USAGE)', perAccount, IDLE_ACCOUNT_BUDGET, 'bytes', '≤ 3 KB')),
        judged(ctx, atMost('Redis bytes per logged event beyond the body (log entry + dedupe marker; MEMORY USAGE)', perEvent, EVENT_BUDGET, 'bytes', '≤ 2.5 KB')),
        { measure: 'bodies stored once (one pm:msg key per message, no body text in the log)', value: bodiesOnce ? 1 : 0, unit: '', target: 'yes', met: bodiesOnce },
        { measure: 'per idle account by INFO used_memory (includes connection buffers)', value: perAccountUsed, unit: 'bytes', target: 'reported', met: null },
        { measure: 'per event by INFO used_memory, minus the bodies (includes BullMQ job history)', value: perEventUsed, unit: 'bytes', target: 'reported', met: null },
      );
      const kinds = [...new Set([...idle.keys(), ...busy.keys()])].sort();
      r.tables.push({
        title: `Redis memory by key kind (MEMORY USAGE … SAMPLES 0, bytes): ${fp.accounts} idle accounts, then ${messages} messages to ${fp.eventAccounts} of them`,
        columns: ['key kind', 'keys (idle)', 'bytes (idle)', 'per account', 'keys (after mail)', 'bytes (after mail)', 'per message (growth)'],
        rows: kinds.map((k) => {
          const i = idle.get(k) ?? { keys: 0, bytes: 0 };
          const b = busy.get(k) ?? { keys: 0, bytes: 0 };
          const base = before.get(k)?.bytes ?? 0;
          return [k, i.keys, i.bytes, Math.round((i.bytes - base) / fp.accounts), b.keys, b.bytes, Math.round((b.bytes - i.bytes) / messages)];
        }),
      });
      r.notes.push(
        `Per idle account: the growth of the account kinds' MEMORY USAGE (${[...ACCOUNT_KINDS].join(', ')}) from before the accounts were stored to ${fp.accounts} accounts connected by one watcher (3 s after the last connected), ÷ accounts. INFO used_memory over the same span, ÷ accounts, is reported beside it: it also counts the watcher's and fetcher's connection buffers.`,
        `Per event beyond the body: the growth of the event logs (pm:events, stream entries holding the ≤ 2 KB summary and the body's key) and of the dedupe markers (pm:dedupe) ÷ messages; the bodies (pm:msg, one per message, ${fp.messagesPerAccount} newsletters of about ${Math.round(JSON.stringify(body(0)).length / 1024)} KB of text and html to each of ${fp.eventAccounts} accounts) are counted once, on their own. BullMQ's history of completed fetch jobs is listed per message too, but is not an account's: it is capped for the whole deployment (50,000 completed jobs, 24 h).`,
      );
      log(`footprint: ${perAccount} B per idle account (used_memory ${perAccountUsed} B), ${perEvent} B per event beyond the body (used_memory ${perEventUsed} B), body ${Math.round(bodyBytes / Math.max(1, bodyKeys))} B, bodies once: ${bodiesOnce}`);
    });
  } finally {
    for (const a of apps) await a.stop().catch(() => undefined);
    await stores?.close().catch(() => undefined);
    await dovecot?.dispose().catch(() => undefined);
    await redis?.dispose().catch(() => undefined);
    run.done();
  }
}
