import { ImapFlow } from 'imapflow';
import { now } from '../lib/clock';
import { ImapUser, bareClient, eachLimited } from '../lib/imap-clients';
import { serveWorker } from '../lib/worker';

/**
 * The polling baseline: what an IMAP client without IDLE does. Each account gets one connection
 * that asks `STATUS INBOX (UIDNEXT)` every interval, at a random phase, as independent clients would.
 */
export interface PollRecord {
  user: string;
  uidNext: number;
  at: number;
}

const clients: ImapFlow[] = [];
const timers: NodeJS.Timeout[] = [];
let records: PollRecord[] = [];
let failures = 0;
let polls = 0;

serveWorker({
  start: async ({ port, users, intervalMs, parallel = 20 }: { port: number; users: ImapUser[]; intervalMs: number; parallel?: number }) => {
    const baseline: Record<string, number> = {};
    await eachLimited(users, parallel, async (u) => {
      const client = bareClient(port, u, { disableAutoIdle: true });
      try {
        await client.connect();
        const status = await client.status('INBOX', { uidNext: true });
        let last = (status && status.uidNext) || 0;
        baseline[u.user] = last;
        clients.push(client);
        const poll = async () => {
          polls++;
          const s = await client.status('INBOX', { uidNext: true }).catch(() => undefined);
          if (s && s.uidNext && s.uidNext !== last) {
            last = s.uidNext;
            records.push({ user: u.user, uidNext: last, at: now() });
          }
        };
        const phase = Math.random() * intervalMs;
        timers.push(
          setTimeout(() => {
            void poll();
            timers.push(setInterval(() => void poll(), intervalMs));
          }, phase),
        );
      } catch {
        failures++;
      }
    });
    return { connected: clients.length, failures, baseline };
  },
  take: () => {
    const out = records;
    records = [];
    return { records: out, polls };
  },
  stop: async () => {
    for (const t of timers) clearTimeout(t);
    await Promise.all(clients.map((c) => c.logout().catch(() => c.close())));
    clients.length = 0;
    return true;
  },
});
