import { BULL_PREFIX, MailboxJobName, QueueName } from '@pushmail/contracts';
import { AppProcess, TEST_SECRET_KEY, TestDovecot, testStores } from '@pushmail/testing';
import { Job, Queue } from 'bullmq';
import IORedis from 'ioredis';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { promisify } from 'node:util';
import { sleep } from '../lib/clock';
import { BENCH_DOVECOT_CONFIG, PASSWORD, appBuilt, appEnv, startRedis } from '../lib/infra';
import { summarize } from '../lib/stats';

/**
 * Every folder live on one connection (issue 17), measured on its own, not part of `npm run bench`:
 * `npx tsx bench/scenarios/folders.ts [deliveries per path] [sweep ms]` (built apps: `npm run build`).
 *
 * Per Dovecot (with NOTIFY, and with NOTIFY removed from its capabilities), accounts watching `["*"]`
 * with 20 folders each: LMTP deliveries to `user` (INBOX, the floor: IDLE's EXISTS) and to
 * `user+Rules` (`lmtp_save_to_detail_mailbox`, as a Sieve fileinto would file it), one at a time,
 * alternating; each is timed from the LMTP acknowledgement to the watcher's fetch job (BullMQ's add
 * time, same host clock). Also: Dovecot's IMAP sessions per account (doveadm who) and the watcher's RSS.
 *
 * One run (load 6, 30 per path, sweep 5 s): with NOTIFY, INBOX p50 501 ms / p99 514 ms, other folder
 * p50 506 ms / p99 554 ms (Dovecot's own ~0.5 s notification delay in both); without NOTIFY, other
 * folder p50 4.5 s / p99 4.7 s (≤ sweep + 1 s); one IMAP session per account in both.
 */

const ACCOUNTS = 10;
const FOLDERS = ['Rules', ...Array.from({ length: 15 }, (_, i) => `Folder${i + 1}`)];
const WITHOUT_NOTIFY =
  'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ SPECIAL-USE';

async function run(mode: 'notify' | 'sweep', perPath: number, sweepMs: number) {
  const users = Object.fromEntries(Array.from({ length: ACCOUNTS }, (_, i) => [`folders${i}@bench.test`, PASSWORD]));
  const dovecot = await TestDovecot.start({ users, extraConfig: `${BENCH_DOVECOT_CONFIG}\nlmtp_save_to_detail_mailbox = yes\n`, ...(mode === 'sweep' ? { imapCapability: WITHOUT_NOTIFY } : {}) });
  const redis = await startRedis();
  const stores = testStores(redis.url);
  const connection = new IORedis(redis.url, { maxRetriesPerRequest: null });
  const queue = new Queue(QueueName.MailboxEvents, { connection, prefix: BULL_PREFIX });
  let watcher: AppProcess | undefined;
  try {
    const accounts = new Map<string, string>();
    for (const user of Object.keys(users)) {
      const setup = await dovecot.imap(user);
      for (const f of FOLDERS) await setup.mailboxCreate(f);
      await setup.logout();
      const imap = dovecot.imapSettings(user);
      accounts.set(user, (await stores.accounts.create({ userId: 'bench', email: user, imap, smtp: imap, mailboxes: ['*'] })).id);
    }
    // The key the test stores encrypted the accounts with.
    watcher = await AppProcess.start('watcher', appEnv(redis.url, TEST_SECRET_KEY, { FOLDER_SWEEP_INTERVAL_MS: String(sweepMs) }));
    for (const id of accounts.values()) {
      for (let t = 0; (await stores.accounts.getState(id))?.state !== 'connected'; t++) {
        if (t > 300) throw new Error(`account ${id} did not connect`);
        await sleep(100);
      }
    }
    await sleep(1000);
    const { stdout } = await promisify(execFile)('doveadm', ['-c', dovecot.configPath, 'who', '-1']);
    const sessions = stdout.split('\n').filter((l) => / imap /.test(` ${l.replace(/\s+/g, ' ')} `));
    const perAccount = [...accounts.keys()].map((u) => sessions.filter((l) => l.startsWith(u)).length);

    const latencies: Record<'INBOX' | 'Rules', number[]> = { INBOX: [], Rules: [] };
    const count = new Map<string, number>();
    for (let i = 0; i < perPath * 2; i++) {
      const user = [...accounts.keys()][i % ACCOUNTS];
      const accountId = accounts.get(user)!;
      const mailbox = i % 2 ? 'Rules' : 'INBOX';
      const key = `${accountId}\n${mailbox}`;
      const uid = (count.get(key) ?? 0) + 1;
      count.set(key, uid);
      const to = mailbox === 'INBOX' ? user : user.replace('@', `+${mailbox}@`);
      await dovecot.deliver(to, { subject: `bench ${i}` });
      const ackAt = Date.now();
      let job: Job | undefined;
      for (let t = 0; !job; t++) {
        if (Date.now() - ackAt > sweepMs + 10_000) throw new Error(`no job for ${mailbox} uid ${uid} of ${user}`);
        const jobs = await queue.getJobs(['waiting', 'prioritized', 'delayed', 'active'], 0, 5000);
        job = jobs.find((j) => j.name === MailboxJobName.Fetch && j.data.accountId === accountId && j.data.mailbox === mailbox && j.data.uid === uid);
        if (!job) await sleep(5);
      }
      latencies[mailbox].push(job.timestamp - ackAt);
    }
    return {
      mode,
      sweepMs,
      accounts: ACCOUNTS,
      foldersPerAccount: FOLDERS.length + 5,
      imapSessionsPerAccount: perAccount,
      // The whole process at 10 accounts (mostly its base): not a per-account figure.
      watcherRssMb: Math.round(rssKb(watcher.pid) / 1024),
      inbox: summarize(latencies.INBOX),
      otherFolder: summarize(latencies.Rules),
      load: loadavg()[0],
    };
  } finally {
    await watcher?.stop().catch(() => undefined);
    await queue.close();
    connection.disconnect();
    await stores.close();
    await Promise.all([dovecot.dispose(), redis.dispose()]);
  }
}

function rssKb(pid: number | undefined): number {
  if (!pid) return NaN;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

async function main() {
  if (!appBuilt('watcher')) throw new Error('build the apps first: npm run build');
  const perPath = Number(process.argv[2] ?? 50);
  const sweepMs = Number(process.argv[3] ?? 5000);
  for (const mode of ['notify', 'sweep'] as const) console.log(JSON.stringify(await run(mode, perPath, sweepMs)));
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
