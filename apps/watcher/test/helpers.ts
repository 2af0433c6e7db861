import { INestApplication } from '@nestjs/common';
import { BULL_PREFIX, MailboxJobName, QueueName } from '@pushmail/contracts';
import { TestDovecot, freePort, testEnv, testStores } from '@pushmail/testing';
import { Job, Queue } from 'bullmq';
import IORedis from 'ioredis';
import { bootstrap } from '../src/bootstrap';

/** Small intervals so failure and recovery paths run in seconds. */
export const FAST_ENV = {
  LEASE_TTL_MS: '3000',
  HEARTBEAT_INTERVAL_MS: '200',
  RECONCILE_INTERVAL_MS: '2000',
  POLL_INTERVAL_MS: '500',
  BACKOFF_MIN_MS: '100',
  BACKOFF_MAX_MS: '1000',
  AUTH_FAILURE_BACKOFF_MS: '60000',
  WATCHER_TICK_MS: '100',
  NOOP_TIMEOUT_MS: '2000',
};

export async function startWatcher(redisUrl: string, overrides: Record<string, string> = {}): Promise<INestApplication> {
  return bootstrap({ env: testEnv(redisUrl, { ...FAST_ENV, PORT: String(await freePort()), ...overrides }) });
}

/** Reads the mailbox-events queue the way the fetcher would see it (no worker consumes it here). */
export class MailboxJobs {
  readonly queue: Queue;
  private readonly connection: IORedis;

  constructor(redisUrl: string) {
    this.connection = new IORedis(redisUrl, { maxRetriesPerRequest: null });
    this.connection.on('error', () => undefined);
    this.queue = new Queue(QueueName.MailboxEvents, { connection: this.connection, prefix: BULL_PREFIX });
    this.queue.on('error', () => undefined);
  }

  async all(accountId?: string, name?: MailboxJobName): Promise<Job[]> {
    const jobs = await this.queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized', 'paused']);
    return jobs.filter((j) => (!accountId || j.data.accountId === accountId) && (!name || j.name === name));
  }

  async fetchUids(accountId: string, mailbox = 'INBOX'): Promise<number[]> {
    const jobs = await this.all(accountId, MailboxJobName.Fetch);
    return jobs
      .filter((j) => j.data.mailbox === mailbox)
      .map((j) => j.data.uid as number)
      .sort((a, b) => a - b);
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.connection.disconnect();
  }
}

export async function seedAccount(
  stores: ReturnType<typeof testStores>,
  dovecot: TestDovecot,
  user: string,
  options: { pass?: string; mailboxes?: string[] } = {},
): Promise<string> {
  const imap = dovecot.imapSettings(user, options.pass);
  const view = await stores.accounts.create({
    userId: `owner-of-${user}`,
    email: user,
    imap,
    smtp: { ...imap, port: 2525 },
    mailboxes: options.mailboxes ?? ['INBOX'],
  });
  return view.id;
}

export async function uidValidityOf(dovecot: TestDovecot, user: string, mailbox = 'INBOX'): Promise<number> {
  const client = await dovecot.imap(user);
  try {
    const status = await client.status(mailbox, { uidValidity: true });
    return Number(status.uidValidity);
  } finally {
    await client.logout().catch(() => undefined);
  }
}

/** Counts LOGIN attempts per user in Dovecot's log (successful and failed). */
export function loginAttempts(dovecot: TestDovecot, user: string): number {
  return dovecot
    .logs()
    .split('\n')
    .filter((l) => l.includes('imap-login:') && l.includes(`user=<${user}>`) && /Login:|auth failed|Aborted login|Disconnected/.test(l)).length;
}
