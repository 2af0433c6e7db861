import { AccountState, BULL_PREFIX, QueueName, ServerEvent, jobIds, redisKeys } from '@pushmail/contracts';
import { testStores } from '@pushmail/testing';
import { pollUntil } from './clock';
import { eachLimited } from './imap-clients';
import { PASSWORD } from './infra';

export type Stores = ReturnType<typeof testStores>;

export interface BenchAccount {
  id: string;
  userId: string;
  email: string;
}

/** Stores accounts the way the admin API does (encrypted settings, change notice published). */
export async function seedAccounts(stores: Stores, emails: string[], imapPort: number, userPrefix = 'bu'): Promise<BenchAccount[]> {
  const out: BenchAccount[] = new Array(emails.length);
  await eachLimited(emails, 32, async (email, i) => {
    const server = { host: '127.0.0.1', port: imapPort, secure: false, user: email, pass: PASSWORD };
    const userId = `${userPrefix}${email.split('@')[0]}`;
    const view = await stores.accounts.create({ userId, email, imap: server, smtp: { ...server, port: 25 }, mailboxes: ['INBOX'] });
    out[i] = { id: view.id, userId, email };
  });
  return out;
}

/** Counts of each account state, read straight from the `pm:state:{id}` hashes. */
export async function stateCounts(stores: Stores, ids: string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < ids.length; i += 1000) {
    const pipe = stores.redis.client.pipeline();
    for (const id of ids.slice(i, i + 1000)) pipe.hget(redisKeys.accountState(id), 'state');
    const res = (await pipe.exec()) ?? [];
    for (const [, state] of res) {
      const s = (state as AccountState | null) ?? 'none';
      counts[s] = (counts[s] ?? 0) + 1;
    }
  }
  return counts;
}

/**
 * Waits until every account is `connected`. Returns the epoch ms it happened (to `intervalMs`),
 * or undefined on timeout, with the last counts. Gives up early when, after `noProgressMs`, not a
 * single account has left `connecting`: nothing is watching them.
 */
export async function waitAllConnected(stores: Stores, ids: string[], timeoutMs: number, intervalMs = 100, noProgressMs = 15_000): Promise<{ at?: number; counts: Record<string, number> }> {
  let counts: Record<string, number> = {};
  const started = Date.now();
  let stalled = false;
  const at = await pollUntil(
    async () => {
      counts = await stateCounts(stores, ids);
      if ((counts.connected ?? 0) === ids.length) return Date.now();
      stalled = (counts.connecting ?? 0) + (counts.none ?? 0) === ids.length && Date.now() - started > noProgressMs;
      return stalled ? -1 : undefined;
    },
    timeoutMs,
    intervalMs,
  );
  return { at: at && at > 0 ? at : undefined, counts };
}

/** Sum of the event log lengths of these accounts. */
export async function eventLogTotal(stores: Stores, ids: string[]): Promise<number> {
  const pipe = stores.redis.client.pipeline();
  for (const id of ids) pipe.xlen(redisKeys.eventLog(id));
  const res = (await pipe.exec()) ?? [];
  return res.reduce((sum, [, n]) => sum + Number(n ?? 0), 0);
}

/** Epoch ms of every event appended after `sinceMs` (stream ids are the Redis server's ms clock). */
export async function appendTimesSince(stores: Stores, ids: string[], sinceMs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < ids.length; i += 200) {
    const pipe = stores.redis.client.pipeline();
    for (const id of ids.slice(i, i + 200)) pipe.xrange(redisKeys.eventLog(id), String(Math.floor(sinceMs)), '+');
    const res = (await pipe.exec()) ?? [];
    for (const [, entries] of res) for (const [eventId] of (entries as Array<[string, string[]]>) ?? []) out.push(Number(eventId.split('-')[0]));
  }
  return out;
}

/**
 * For every message.new appended after `sinceMs`: its fetch job's enqueue time (the timestamp the
 * producer gave BullMQ) to its append (the stream id), both ms clocks of this machine.
 */
export async function jobToAppendLatencies(stores: Stores, ids: string[], sinceMs: number): Promise<number[]> {
  const appended: Array<{ at: number; jobKey: string }> = [];
  for (let i = 0; i < ids.length; i += 200) {
    const pipe = stores.redis.client.pipeline();
    const chunk = ids.slice(i, i + 200);
    for (const id of chunk) pipe.xrange(redisKeys.eventLog(id), String(Math.floor(sinceMs)), '+');
    const res = (await pipe.exec()) ?? [];
    res.forEach(([, entries], j) => {
      for (const [eventId, fields] of (entries as Array<[string, string[]]>) ?? []) {
        if (fields[fields.indexOf('n') + 1] !== ServerEvent.MessageNew) continue;
        const payload = JSON.parse(fields[fields.indexOf('p') + 1]) as { mailbox: string; uidValidity: number; uid: number };
        const jobId = jobIds.fetch(chunk[j], payload.mailbox, payload.uidValidity, payload.uid);
        appended.push({ at: Number(eventId.split('-')[0]), jobKey: `${BULL_PREFIX}:${QueueName.MailboxEvents}:${jobId}` });
      }
    });
  }
  const out: number[] = [];
  for (let i = 0; i < appended.length; i += 500) {
    const pipe = stores.redis.client.pipeline();
    for (const a of appended.slice(i, i + 500)) pipe.hget(a.jobKey, 'timestamp');
    const res = (await pipe.exec()) ?? [];
    res.forEach(([, ts], j) => {
      if (ts) out.push(appended[i + j].at - Number(ts));
    });
  }
  return out;
}
