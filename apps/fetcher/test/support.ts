import { INestApplication } from '@nestjs/common';
import { BULL_PREFIX, FetchJob, MailboxJobName, QueueName, jobIds } from '@pushmail/contracts';
import { TestDovecot, TestRedis, freePort, testEnv, testStores } from '@pushmail/testing';
import { Job, Queue, QueueEvents } from 'bullmq';
import IORedis from 'ioredis';
import { bootstrap } from '../src/bootstrap';

export const USER = 'fetch@example.test';
export const PASS = 'secret';

/** Real Redis and Dovecot, an in-process fetcher, an account, and a producer on the fetcher's queues. */
export async function startFetcherWorld(envOverrides: Record<string, string> = {}) {
  const [redis, dovecot] = await Promise.all([TestRedis.start(), TestDovecot.start({ users: { [USER]: PASS } })]);
  const stores = testStores(redis.url);
  const account = await stores.accounts.create({
    userId: 'u1',
    email: USER,
    imap: dovecot.imapSettings(USER),
    smtp: { host: '127.0.0.1', port: 25, secure: false, user: USER, pass: PASS },
    mailboxes: ['INBOX'],
  });
  const app: INestApplication = await bootstrap({
    env: testEnv(redis.url, { PORT: String(await freePort()), LOG_LEVEL: 'error', MISSING_MESSAGE_RETRY_MS: '50,150,400', ...envOverrides }),
  });
  const connection = new IORedis(redis.url, { maxRetriesPerRequest: null });
  const mailboxQueue = new Queue(QueueName.MailboxEvents, { connection, prefix: BULL_PREFIX });
  const commandQueue = new Queue(QueueName.ImapCommands, { connection, prefix: BULL_PREFIX });
  const eventConnections = [new IORedis(redis.url, { maxRetriesPerRequest: null }), new IORedis(redis.url, { maxRetriesPerRequest: null })];
  const mailboxEvents = new QueueEvents(QueueName.MailboxEvents, { connection: eventConnections[0], prefix: BULL_PREFIX });
  const commandEvents = new QueueEvents(QueueName.ImapCommands, { connection: eventConnections[1], prefix: BULL_PREFIX });
  // Every waiting test job listens on these; dozens at once is expected here.
  for (const emitter of [mailboxEvents, commandEvents, mailboxQueue, commandQueue]) emitter.setMaxListeners(0);
  await Promise.all([mailboxEvents.waitUntilReady(), commandEvents.waitUntilReady()]);
  const client = redis.client();

  const uidValidity = async (mailbox = 'INBOX') => {
    const imap = await dovecot.imap(USER);
    try {
      const status = await imap.status(mailbox, { uidValidity: true });
      if (!status) throw new Error(`no STATUS for ${mailbox}`);
      return Number(status.uidValidity);
    } finally {
      await imap.logout();
    }
  };

  /** Enqueues a fetch job exactly as the watcher does (deterministic id) and waits for its result. */
  const fetchJob = async (data: FetchJob): Promise<Job> =>
    mailboxQueue.add(MailboxJobName.Fetch, data, {
      jobId: jobIds.fetch(data.accountId, data.mailbox, data.uidValidity, data.uid),
      attempts: 3,
      backoff: { type: 'fixed', delay: 100 },
    });

  return {
    redis,
    dovecot,
    stores,
    accountId: account.id,
    app,
    client,
    mailboxQueue,
    commandQueue,
    mailboxEvents,
    commandEvents,
    uidValidity,
    fetchJob,
    async close() {
      await app?.close();
      await Promise.allSettled([mailboxQueue.close(), commandQueue.close(), mailboxEvents.close(), commandEvents.close()]);
      for (const c of [connection, ...eventConnections]) c.disconnect();
      client.disconnect();
      await stores.close();
      await Promise.all([dovecot.dispose(), redis.dispose()]);
    },
  };
}
export type FetcherWorld = Awaited<ReturnType<typeof startFetcherWorld>>;
