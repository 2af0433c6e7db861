import { BULL_PREFIX, ImapCommandJobName, MailboxJobName, QueueName, jobIds } from '@pushmail/contracts';
import { AppProcess, TcpStub, TestRedis, tcpStub, testEnv, testStores, waitFor } from '@pushmail/testing';
import { Queue, QueueEvents } from 'bullmq';
import IORedis from 'ioredis';

jest.setTimeout(120_000);

/** FETCH_JOB_LOCK_MS's default, stated here so that a change to it shows. */
const DEFAULT_LOCK_MS = 10_000;

/**
 * An IMAP server that greets and then never answers: a fetch for its account holds its job (the
 * pooled connection waits a minute for a reply), as a fetch does while a mail server is slow.
 * Its connections count the fetchers working on the jobs, one connection per job.
 */
const silentImapServer = () => tcpStub((socket) => socket.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] silent server ready\r\n'));

/** A queue of the fetcher's, with its events: how the test adds a job and hears it stall. */
async function watchedQueue(url: string, name: QueueName): Promise<{ queue: Queue; stalledAt: (jobId: string) => Promise<number>; close: () => Promise<void> }> {
  const connection = new IORedis(url, { maxRetriesPerRequest: null });
  const eventsConnection = new IORedis(url, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection, prefix: BULL_PREFIX });
  const events = new QueueEvents(name, { connection: eventsConnection, prefix: BULL_PREFIX });
  await events.waitUntilReady();
  const stalled = new Map<string, number>();
  events.on('stalled', ({ jobId }) => stalled.set(jobId, Date.now()));
  return {
    queue,
    // NaN (and a failed expectation) when it has not stalled 40 s on.
    stalledAt: (jobId) =>
      waitFor(() => stalled.has(jobId), 40_000, `${name} job ${jobId} handed on`).then(
        () => stalled.get(jobId)!,
        () => Number.NaN,
      ),
    close: async () => {
      await Promise.allSettled([queue.close(), events.close()]);
      connection.disconnect();
      eventsConnection.disconnect();
    },
  };
}

/**
 * A fetcher that dies (kill -9, an OOM kill) leaves its jobs active in Redis under locks nobody
 * renews. BullMQ's stalled check, run by the fetchers still alive, gives them back once a lock has
 * lapsed. With BullMQ's defaults (a 30 s lock, checked every 30 s) that took 30 to 60 s: a minute
 * of push delay for a mailbox job's mail, and a command (a flag change, a move) its gateway had
 * long stopped waiting for (15 s). FETCH_JOB_LOCK_MS (10 s, checked every 5 s) bounds both at
 * about 15 s. Real fetcher processes, real Redis.
 */
describe('a fetcher killed while it holds a mailbox job and a command', () => {
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let silent: TcpStub;
  const fetchers: AppProcess[] = [];
  let mailbox: Awaited<ReturnType<typeof watchedQueue>>;
  let commands: Awaited<ReturnType<typeof watchedQueue>>;

  beforeAll(async () => {
    [redis, silent] = await Promise.all([TestRedis.start(), silentImapServer()]);
    stores = testStores(redis.url);
    [mailbox, commands] = await Promise.all([watchedQueue(redis.url, QueueName.MailboxEvents), watchedQueue(redis.url, QueueName.ImapCommands)]);
  });

  afterAll(async () => {
    await Promise.allSettled(fetchers.map((f) => f.kill9()));
    await Promise.allSettled([mailbox?.close(), commands?.close()]);
    await stores?.close();
    await Promise.allSettled([silent?.close(), redis?.dispose()]);
  });

  it(`are given to another fetcher within 1.5 × FETCH_JOB_LOCK_MS (default ${DEFAULT_LOCK_MS} ms)`, async () => {
    const email = 'slow@example.test';
    const account = await stores.accounts.create({
      userId: 'u1',
      email,
      imap: { host: '127.0.0.1', port: silent.port, secure: false, user: email, pass: 'secret' },
      smtp: { host: '127.0.0.1', port: 25, secure: false, user: email, pass: 'secret' },
      mailboxes: ['INBOX'],
    });
    const env = testEnv(redis.url, { LOG_LEVEL: 'error' });
    fetchers.push(await AppProcess.start('fetcher', env));

    const data = { accountId: account.id, mailbox: 'INBOX', uidValidity: 1, uid: 1 };
    const fetchJob = jobIds.fetch(data.accountId, data.mailbox, data.uidValidity, data.uid);
    await mailbox.queue.add(MailboxJobName.Fetch, data, { jobId: fetchJob });
    // As the gateway adds a flag change (its reply channel is nobody's here).
    const flagJob = 'gateway-reply-channel-0';
    await commands.queue.add(ImapCommandJobName.Flag, { accountId: account.id, mailbox: 'INBOX', uid: 1, add: ['\\Seen'], remove: [], replyTo: 'gateway-reply-channel' }, { jobId: flagJob, attempts: 2 });
    // Each job waits on a pooled connection of its own (the pool holds two per account).
    await waitFor(
      async () => silent.connections() === 2 && (await mailbox.queue.getJobState(fetchJob)) === 'active' && (await commands.queue.getJobState(flagJob)) === 'active',
      20_000,
      'the first fetcher working on both jobs',
    );

    // The survivor runs the stalled checks once the first is gone.
    fetchers.push(await AppProcess.start('fetcher', env));
    const killedAt = Date.now();
    const stalled = Promise.all([mailbox.stalledAt(fetchJob), commands.stalledAt(flagJob)]);
    await fetchers[0].kill9();
    const handedOnMs = (await stalled).map((at) => at - killedAt);
    console.log(`dead fetcher: mailbox job handed on ${handedOnMs[0]} ms, command ${handedOnMs[1]} ms after the kill`);
    // Its last lock renewal was at most at the kill: a lock lapses within 10 s of it, and a check
    // (every 5 s) that marked the job moves it at the first run after that. 3 s of slack for a
    // loaded machine; BullMQ's defaults take 30 s at the very least.
    for (const ms of handedOnMs) expect(ms).toBeLessThanOrEqual(1.5 * DEFAULT_LOCK_MS + 3_000);
    // And the survivor takes both up: two more connections to the mail server.
    await waitFor(() => silent.connections() === 4, 10_000, 'the surviving fetcher working on both jobs');
    expect(await mailbox.queue.getJobState(fetchJob)).toBe('active');
    expect(await commands.queue.getJobState(flagJob)).toBe('active');
  });
});
