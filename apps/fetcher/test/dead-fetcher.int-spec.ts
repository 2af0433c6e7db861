import { AddressInfo, Server, Socket, createServer } from 'node:net';
import { BULL_PREFIX, MailboxJobName, QueueName, jobIds } from '@pushmail/contracts';
import { AppProcess, TestRedis, testEnv, testStores, waitFor } from '@pushmail/testing';
import { Queue, QueueEvents } from 'bullmq';
import IORedis from 'ioredis';

jest.setTimeout(120_000);

/** FETCH_JOB_LOCK_MS's default, stated here so that a change to it shows. */
const DEFAULT_LOCK_MS = 10_000;

/**
 * An IMAP server that greets and then never answers: a fetch for its account holds its job (the
 * pooled connection waits a minute for a reply), as a fetch does while a mail server is slow.
 * Counts the connections made to it: each is one fetcher working on the job.
 */
async function silentImapServer(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] silent server ready\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A fetcher that dies (kill -9, an OOM kill) leaves its mailbox jobs active in Redis under locks
 * nobody renews. BullMQ's stalled check, run by the fetchers still alive, gives them back once a
 * lock has lapsed. With BullMQ's defaults (a 30 s lock, checked every 30 s) that took 30 to 60 s,
 * a minute of push delay for that mail; FETCH_JOB_LOCK_MS (10 s, checked every 5 s) bounds it at
 * about 15 s. Real fetcher processes, real Redis.
 */
describe('a fetcher killed while it holds a mailbox job', () => {
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  let silent: Awaited<ReturnType<typeof silentImapServer>>;
  const fetchers: AppProcess[] = [];
  let connection: IORedis;
  let eventsConnection: IORedis;
  let queue: Queue;
  let events: QueueEvents;

  beforeAll(async () => {
    [redis, silent] = await Promise.all([TestRedis.start(), silentImapServer()]);
    stores = testStores(redis.url);
    connection = new IORedis(redis.url, { maxRetriesPerRequest: null });
    queue = new Queue(QueueName.MailboxEvents, { connection, prefix: BULL_PREFIX });
    eventsConnection = new IORedis(redis.url, { maxRetriesPerRequest: null });
    events = new QueueEvents(QueueName.MailboxEvents, { connection: eventsConnection, prefix: BULL_PREFIX });
    await events.waitUntilReady();
  });

  afterAll(async () => {
    await Promise.allSettled(fetchers.map((f) => f.kill9()));
    await Promise.allSettled([queue?.close(), events?.close()]);
    connection?.disconnect();
    eventsConnection?.disconnect();
    await stores?.close();
    await Promise.allSettled([silent?.close(), redis?.dispose()]);
  });

  it(`is given to another fetcher within 1.5 × FETCH_JOB_LOCK_MS (default ${DEFAULT_LOCK_MS} ms)`, async () => {
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
    const jobId = jobIds.fetch(data.accountId, data.mailbox, data.uidValidity, data.uid);
    await queue.add(MailboxJobName.Fetch, data, { jobId });
    await waitFor(async () => silent.connections() === 1 && (await queue.getJobState(jobId)) === 'active', 20_000, 'the first fetcher working on the job');

    // The survivor runs the stalled checks once the first is gone.
    fetchers.push(await AppProcess.start('fetcher', env));
    const stalled = new Promise<number>((resolve) => {
      events.on('stalled', ({ jobId: id }) => {
        if (id === jobId) resolve(Date.now());
      });
    });
    const killedAt = Date.now();
    await fetchers[0].kill9();
    // NaN (and a failed expectation below) when it has not happened after 40 s.
    const stalledAt = await Promise.race([stalled, new Promise<number>((resolve) => setTimeout(() => resolve(Number.NaN), 40_000).unref())]);
    const handedOnMs = stalledAt - killedAt;
    console.log(`dead fetcher: job handed on ${handedOnMs} ms after the kill`);
    // Its last lock renewal was at most at the kill: the lock lapses within 10 s of it, and a check
    // (every 5 s) that marked the job moves it at the first run after that. 3 s of slack for a
    // loaded machine; BullMQ's defaults take 30 s at the very least.
    expect(handedOnMs).toBeLessThanOrEqual(1.5 * DEFAULT_LOCK_MS + 3_000);
    // And the survivor takes it up: a second connection to the mail server.
    await waitFor(() => silent.connections() === 2, 10_000, 'the surviving fetcher working on the job');
    expect(await queue.getJobState(jobId)).toBe('active');
  });
});
