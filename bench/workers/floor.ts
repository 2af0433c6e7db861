import { ImapFlow } from 'imapflow';
import IORedis from 'ioredis';
import { now } from '../lib/clock';
import { FLOOR_EXISTS_STREAM } from '../lib/job-adds';
import { ImapUser, bareClient, eachLimited } from '../lib/imap-clients';
import { serveWorker } from '../lib/worker';

/**
 * The physical floor: bare imapflow clients IDLE-ing on Dovecot, stamping each EXISTS. What
 * pushmail adds on top of this is the gap the benchmark reports.
 */
export interface ExistsRecord {
  user: string;
  count: number;
  prevCount: number;
  at: number;
}

const clients: ImapFlow[] = [];
let records: ExistsRecord[] = [];
let failures = 0;
let redis: IORedis | undefined;

serveWorker({
  /**
   * With `redisUrl`, every EXISTS is also written to Redis at once (one XADD carrying the
   * client's Date.now()): the floor of "EXISTS → something in Redis" on this machine, this run.
   */
  connect: async ({ port, users, parallel = 20, redisUrl }: { port: number; users: ImapUser[]; parallel?: number; redisUrl?: string }) => {
    if (redisUrl) redis = new IORedis(redisUrl);
    await eachLimited(users, parallel, async (u) => {
      // autoIdleDelay 0: imapflow otherwise waits 15 s after the last command before it IDLEs.
      const client = bareClient(port, u, { autoIdleDelay: 0 });
      client.on('exists', (d: { count: number; prevCount: number }) => {
        records.push({ user: u.user, count: d.count, prevCount: d.prevCount, at: now() });
        void redis?.xadd(FLOOR_EXISTS_STREAM, '*', 'at', String(Date.now())).catch(() => undefined);
      });
      try {
        await client.connect();
        await client.mailboxOpen('INBOX');
        void client.idle().catch(() => undefined);
        clients.push(client);
      } catch {
        failures++;
      }
    });
    return { connected: clients.length, failures };
  },
  /** Returns and forgets what was seen so far. */
  take: () => {
    const out = records;
    records = [];
    return out;
  },
  close: async () => {
    await Promise.all(clients.map((c) => c.logout().catch(() => c.close())));
    clients.length = 0;
    redis?.disconnect();
    return true;
  },
});
