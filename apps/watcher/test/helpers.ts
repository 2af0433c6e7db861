import { INestApplication } from '@nestjs/common';
import { BULL_PREFIX, MailboxJobName, QueueName } from '@pushmail/contracts';
import { TestDovecot, freePort, testEnv, testStores } from '@pushmail/testing';
import { Job, JobType, Queue } from 'bullmq';
import { readFileSync, readdirSync } from 'node:fs';
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
    const jobs = await this.queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized', 'paused'] as JobType[]);
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
  options: { pass?: string; mailboxes?: string[]; imapPort?: number } = {},
): Promise<string> {
  const imap = dovecot.imapSettings(user, options.pass);
  const view = await stores.accounts.create({
    userId: `owner-of-${user}`,
    email: user,
    imap: options.imapPort === undefined ? imap : { ...imap, port: options.imapPort },
    smtp: { ...imap, port: 2525 },
    mailboxes: options.mailboxes ?? ['INBOX'],
  });
  return view.id;
}

export async function uidValidityOf(dovecot: TestDovecot, user: string, mailbox = 'INBOX'): Promise<number> {
  const client = await dovecot.imap(user);
  try {
    const status = await client.status(mailbox, { uidValidity: true });
    return Number(status && status.uidValidity);
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

/** PIDs of every live descendant of `root`, read from /proc. */
function descendants(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!pid) continue;
    try {
      // "pid (comm) state ppid ...": comm may contain spaces, so split after the last ')'.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      parentOf.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length) {
    const parent = queue.shift()!;
    for (const [pid, ppid] of parentOf) if (ppid === parent) {
      found.push(pid);
      queue.push(pid);
    }
  }
  return found;
}

/** Dovecot's imap (not imap-login) processes of this test server, by PID. */
export function dovecotImapProcesses(dovecot: TestDovecot): number[] {
  return (dovecot.pid ? descendants(dovecot.pid) : []).filter((pid) => {
    try {
      return /\/imap$/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]);
    } catch {
      return false;
    }
  });
}

/**
 * Restarts Dovecot the way a crashed or rebooted server looks to clients: Dovecot's imap
 * processes outlive a stopped master for several seconds and keep serving their connections,
 * so the ones this test's server started are killed (by PID) once the master is gone.
 */
export async function restartDovecotDroppingClients(dovecot: TestDovecot): Promise<void> {
  const children = dovecot.pid ? descendants(dovecot.pid) : [];
  await dovecot.stop();
  for (const pid of children) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await dovecot.restart();
}
