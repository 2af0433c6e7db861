import { ImapFlow } from 'imapflow';
import { now } from '../lib/clock';
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

serveWorker({
  connect: async ({ port, users, parallel = 20 }: { port: number; users: ImapUser[]; parallel?: number }) => {
    await eachLimited(users, parallel, async (u) => {
      // autoIdleDelay 0: imapflow otherwise waits 15 s after the last command before it IDLEs.
      const client = bareClient(port, u, { autoIdleDelay: 0 });
      client.on('exists', (d: { count: number; prevCount: number }) => {
        records.push({ user: u.user, count: d.count, prevCount: d.prevCount, at: now() });
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
    return true;
  },
});
