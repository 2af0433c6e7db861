import { CommandJobOutcome, CommandReply, FlagsJob, ImapCommandJobName, MailboxJobName, ParsedMessage, redisChannels, redisKeys } from '@pushmail/contracts';
import { sleep, waitFor } from '@pushmail/testing';
import { Job } from 'bullmq';
import { FetcherWorld, USER, startFetcherWorld } from './support';

const MAX_MESSAGE_BYTES = 200_000;

function mail(subject: string, body = 'hello', extraHeaders: string[] = []): string {
  return [`From: Tester <tester@example.test>`, `To: ${USER}`, `Subject: ${subject}`, `Message-ID: <${subject.replace(/\W/g, '')}@t.test>`, ...extraHeaders, '', body, ''].join('\r\n');
}

describe('fetcher jobs and commands on real Redis and Dovecot', () => {
  let world: FetcherWorld;
  let uidValidity: number;
  let nextUid = 1;
  const ref = () => ({ accountId: world.accountId, mailbox: 'INBOX', uidValidity });

  const deliver = async (raw: string | Buffer) => {
    await world.dovecot.deliver(USER, raw);
    return nextUid++;
  };
  const finished = <T>(job: Job) => job.waitUntilFinished(world.mailboxEvents, 20_000) as Promise<T>;
  /** Runs a command as a gateway without a reply channel does: the job returns a reference, the result is read once. */
  const command = async <T>(name: ImapCommandJobName, data: object): Promise<T> => {
    const job = await world.commandQueue.add(name, data, { attempts: 1 });
    const outcome = (await job.waitUntilFinished(world.commandEvents, 20_000)) as CommandJobOutcome;
    if (!outcome.ok) throw new Error(`command answered ${outcome.code}`);
    if (!('ref' in outcome)) throw new Error('published to no reply channel');
    const json = await world.client.getdel(redisKeys.commandResult(outcome.ref));
    return JSON.parse(json!) as T;
  };
  const events = async () => (await world.client.xrange(redisKeys.eventLog(world.accountId), '-', '+')).map(([id, f]) => ({ id, name: f[1], payload: JSON.parse(f[3]) }));
  const metrics = async () => (await fetch(`${await world.app.getUrl()}/metrics`.replace('[::1]', '127.0.0.1'))).text();

  beforeAll(async () => {
    world = await startFetcherWorld({ MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES), FETCH_POOL_SIZE: '2', FETCH_POOL_IDLE_MS: '1500', FETCH_POOL_EXTRA_IDLE_MS: '200' });
    uidValidity = await world.uidValidity();
  });
  afterAll(() => world?.close());

  it('a job re-run after a crash between store and ack yields one event, not two', async () => {
    const uid = await deliver(mail('crash test'));
    const job = await world.fetchJob({ ...ref(), uid, seenAt: Date.now() });
    const first = await finished<{ outcome: string; eventId: string }>(job);
    expect(first.outcome).toBe('appended');
    // What BullMQ does when a worker dies after the append but before the ack: the same job
    // (same id, same data) runs again.
    const again = await Job.fromId(world.mailboxQueue, job.id!);
    await again!.retry('completed');
    await waitFor(async () => (await Job.fromId(world.mailboxQueue, job.id!))?.finishedOn && (await again!.getState()) === 'completed', 10_000, 'the re-run');
    const second = (await Job.fromId(world.mailboxQueue, job.id!))!.returnvalue as { outcome: string; eventId: string };
    expect(second).toEqual({ outcome: 'duplicate', eventId: first.eventId });
    // A new job for the same message (e.g. re-enqueued after the old one was removed) is deduped too.
    const other = await world.mailboxQueue.add(MailboxJobName.Fetch, { ...ref(), uid }, { jobId: `other-${uid}` });
    expect(await finished<{ outcome: string }>(other)).toMatchObject({ outcome: 'duplicate', eventId: first.eventId });
    const news = (await events()).filter((e) => e.name === 'message.new' && e.payload.uid === uid);
    expect(news).toHaveLength(1);
    expect(news[0].id).toBe(first.eventId);
  });

  it('drops a message expunged before it could be fetched, without retries', async () => {
    const uid = await deliver(mail('gone soon'));
    const imap = await world.dovecot.imap(USER);
    await imap.mailboxOpen('INBOX');
    await imap.messageDelete(String(uid), { uid: true });
    await imap.logout();
    const job = await world.fetchJob({ ...ref(), uid });
    expect(await finished(job)).toMatchObject({ outcome: 'dropped', reason: expect.stringContaining('expunged') });
    expect((await Job.fromId(world.mailboxQueue, job.id!))!.attemptsMade).toBeLessThanOrEqual(1);
    expect(await world.client.exists(redisKeys.message(world.accountId, 'INBOX', uidValidity, uid))).toBe(0);
  });

  it('waits briefly for a message announced before it can be fetched', async () => {
    const uid = nextUid;
    const job = await world.fetchJob({ ...ref(), uid });
    await sleep(40);
    await deliver(mail('late arrival'));
    expect(await finished(job)).toMatchObject({ outcome: 'appended' });
  });

  it('fetches a burst over a bounded pool, batching UIDs, and closes idle connections', async () => {
    const uids: number[] = [];
    for (let i = 0; i < 30; i++) uids.push(await deliver(mail(`burst ${i}`)));
    const before = await metrics();
    const jobs = await Promise.all(uids.map((uid) => world.fetchJob({ ...ref(), uid, seenAt: Date.now() })));
    let maxConnections = 0;
    const sampler = setInterval(() => {
      void metrics().then((m) => {
        const open = Number(/^pushmail_fetch_pool_connections (\d+)/m.exec(m)?.[1] ?? 0);
        maxConnections = Math.max(maxConnections, open);
      });
    }, 5);
    const results = await Promise.all(jobs.map((j) => finished<{ outcome: string }>(j)));
    clearInterval(sampler);
    expect(results.every((r) => r.outcome === 'appended')).toBe(true);
    const after = await metrics();
    const batches = (m: string) => Number(/^pushmail_fetch_batch_size_count (\d+)/m.exec(m)?.[1] ?? 0);
    expect(batches(after) - batches(before)).toBeLessThan(uids.length);
    expect(maxConnections).toBeLessThanOrEqual(2);
    expect(after).toMatch(/pushmail_fetch_stage_ms_count\{stage="fetch"\}/);
    expect(after).toMatch(/pushmail_fetch_stage_ms_count\{stage="parse"\}/);
    expect(after).toMatch(/pushmail_fetch_stage_ms_count\{stage="store"\}/);
    expect(after).toMatch(/pushmail_exists_to_append_ms_count [1-9]/);
    // The burst's extra connection closes soon, the account's last one a little later.
    await waitFor(async () => /^pushmail_fetch_pool_connections 1$/m.test(await metrics()), 1200, 'the extra connection to close');
    await waitFor(async () => /^pushmail_fetch_pool_connections 0$/m.test(await metrics()), 5000, 'the last connection to close');
  });

  it('delivers an oversized message with headers, structure and the first text part only', async () => {
    const big = Buffer.alloc(MAX_MESSAGE_BYTES, 7).toString('base64').replace(/.{76}/g, '$&\r\n');
    const raw = [
      'From: Big <big@example.test>',
      `To: ${USER}`,
      'Subject: =?UTF-8?Q?Gro=C3=9Fe_Datei?=',
      'Message-ID: <big@t.test>',
      'Content-Type: multipart/mixed; boundary="B"',
      '',
      '--B',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'See the big file.',
      '--B',
      'Content-Type: application/octet-stream; name="big.bin"',
      'Content-Disposition: attachment; filename="big.bin"',
      'Content-Transfer-Encoding: base64',
      '',
      big,
      '--B--',
      '',
    ].join('\r\n');
    const uid = await deliver(raw);
    const job = await world.fetchJob({ ...ref(), uid });
    expect(await finished(job)).toMatchObject({ outcome: 'appended' });
    const stored = JSON.parse((await world.client.get(redisKeys.message(world.accountId, 'INBOX', uidValidity, uid)))!) as ParsedMessage;
    expect(stored.subject).toBe('Große Datei');
    expect(stored.text).toContain('See the big file.');
    expect(stored.size).toBeGreaterThan(MAX_MESSAGE_BYTES);
    expect(stored.parseWarnings?.[0]).toMatch(/above the 200000-byte limit/);
    expect(stored.attachments).toEqual([{ partId: '2', filename: 'big.bin', contentType: 'application/octet-stream', size: expect.any(Number), inline: false }]);
    expect(stored.attachments[0].size).toBeGreaterThanOrEqual(MAX_MESSAGE_BYTES);
  });

  it('flag command: stores flags on the server and answers with what the server reports', async () => {
    const uid = await deliver(mail('flag me'));
    const added = await command<{ flags: string[] }>(ImapCommandJobName.Flag, { accountId: world.accountId, mailbox: 'INBOX', uid, add: ['\\Flagged', '\\Seen', 'custom'], remove: [] });
    expect(added.flags.sort()).toEqual(['\\Flagged', '\\Seen', 'custom'].sort());
    const removed = await command<{ flags: string[] }>(ImapCommandJobName.Flag, { accountId: world.accountId, mailbox: 'INBOX', uid, add: [], remove: ['\\Seen'] });
    expect(removed.flags.sort()).toEqual(['\\Flagged', 'custom'].sort());
    const imap = await world.dovecot.imap(USER);
    await imap.mailboxOpen('INBOX', { readOnly: true });
    const row = await imap.fetchOne(String(uid), { flags: true }, { uid: true });
    await imap.logout();
    expect(row && [...(row.flags ?? [])].sort()).toEqual(['\\Flagged', 'custom'].sort());
    await expect(command(ImapCommandJobName.Flag, { accountId: world.accountId, mailbox: 'INBOX', uid: 99_999, add: ['\\Flagged'], remove: [] })).rejects.toThrow('command answered not_found');
  });

  it('get command: fetches, parses and stores a message nobody fetched yet, then serves the stored copy', async () => {
    const uid = await deliver(mail('fetch on demand', 'asked for by a client'));
    const { message } = await command<{ message: ParsedMessage & { eventId?: string } }>(ImapCommandJobName.Get, { accountId: world.accountId, mailbox: 'INBOX', uid });
    expect(message).toMatchObject({ uid, uidValidity, subject: 'fetch on demand', preview: 'asked for by a client' });
    expect(message.eventId).toBeUndefined();
    expect(await world.client.exists(redisKeys.message(world.accountId, 'INBOX', uidValidity, uid))).toBe(1);
    // Once the watcher's fetch job has run, the stored copy carries the event id.
    const job = await world.fetchJob({ ...ref(), uid });
    const { eventId } = await finished<{ eventId: string }>(job);
    const again = await command<{ message: { eventId?: string } }>(ImapCommandJobName.Get, { accountId: world.accountId, mailbox: 'INBOX', uid });
    expect(again.message.eventId).toBe(eventId);
    await expect(command(ImapCommandJobName.Get, { accountId: world.accountId, mailbox: 'INBOX', uid: 99_999 })).rejects.toThrow('command answered not_found');
    await expect(command(ImapCommandJobName.Get, { accountId: world.accountId, mailbox: 'No Such Box', uid: 1 })).rejects.toThrow('command answered not_found');
  });

  it('get command: the result travels by reference, never in the job hash or the events stream', async () => {
    const marker = `REFBODY${Date.now()}`;
    const uid = await deliver(mail('by reference', `${marker} `.repeat(10_000)));
    const job = await world.commandQueue.add(ImapCommandJobName.Get, { accountId: world.accountId, mailbox: 'INBOX', uid }, { attempts: 1 });
    const outcome = (await job.waitUntilFinished(world.commandEvents, 20_000)) as CommandJobOutcome;
    const holders: string[] = [];
    for (const key of await world.client.keys('{pm-bull}:imap-commands:*')) {
      const type = await world.client.type(key);
      const values = type === 'hash' ? Object.values(await world.client.hgetall(key)) : type === 'stream' ? (await world.client.xrange(key, '-', '+')).flatMap(([, f]) => f) : [];
      if (values.some((v) => v.includes(marker))) holders.push(key);
    }
    expect(holders).toEqual([]);
    expect(outcome).toEqual({ ok: true, ref: expect.any(String) });
    const key = redisKeys.commandResult((outcome as { ref: string }).ref);
    expect(await world.client.ttl(key)).toBeGreaterThan(60);
    expect(JSON.parse((await world.client.getdel(key))!).message.text).toContain(marker);
    expect(await world.client.exists(key)).toBe(0);
  });

  it('commands naming a reply channel: the answer is published there (inline, by reference when large, not_found, internal), never in BullMQ', async () => {
    const replyTo = `replies-${Date.now()}`;
    const subscriber = world.redis.client();
    const replies: CommandReply[] = [];
    subscriber.on('message', (_channel: string, message: string) => replies.push(JSON.parse(message) as CommandReply));
    await subscriber.subscribe(redisChannels.commandReplies(replyTo));
    const replyOf = async (name: ImapCommandJobName, data: object, jobId: string) => {
      const job = await world.commandQueue.add(name, { ...data, replyTo }, { attempts: 2, backoff: { type: 'fixed', delay: 10 }, jobId });
      const outcome = await job.waitUntilFinished(world.commandEvents, 20_000).catch((err: Error) => ({ failed: err.message }));
      return { outcome, reply: await waitFor(() => replies.find((r) => r.id === jobId), 5000, `reply to ${jobId}`) };
    };
    try {
      const marker = `REPLYBODY${Date.now()}`;
      const small = await deliver(mail('reply inline', marker));
      const inline = await replyOf(ImapCommandJobName.Get, { accountId: world.accountId, mailbox: 'INBOX', uid: small }, `${replyTo}-1`);
      expect(inline.outcome).toEqual({ ok: true, published: true });
      expect(inline.reply).toMatchObject({ id: `${replyTo}-1`, ok: true, result: { message: { uid: small, subject: 'reply inline' } } });

      const page = await replyOf(ImapCommandJobName.MessageList, { accountId: world.accountId, mailbox: 'INBOX', limit: 1 }, `${replyTo}-2`);
      expect(page.reply).toMatchObject({ ok: true, result: { messages: [expect.objectContaining({ uid: small })] } });

      // Backslashes double in JSON: 150,000 of them (a 150 KB body) make a result past the 256 K characters sent inline.
      const big = await deliver(mail('reply by reference', `${marker}${'\\'.repeat(150_000)}`));
      const byRef = await replyOf(ImapCommandJobName.Get, { accountId: world.accountId, mailbox: 'INBOX', uid: big }, `${replyTo}-3`);
      expect(byRef.outcome).toEqual({ ok: true, ref: expect.any(String) });
      expect(byRef.reply).toEqual({ id: `${replyTo}-3`, ok: true, ref: (byRef.outcome as { ref: string }).ref });
      expect(JSON.parse((await world.client.getdel(redisKeys.commandResult((byRef.outcome as { ref: string }).ref)))!).message.text).toContain(marker);

      const missing = await replyOf(ImapCommandJobName.Get, { accountId: world.accountId, mailbox: 'INBOX', uid: 99_999 }, `${replyTo}-4`);
      expect(missing.reply).toEqual({ id: `${replyTo}-4`, ok: false, code: 'not_found' });
      // A payload that fails validation fails for good at once, and says so on the channel.
      const invalid = await replyOf(ImapCommandJobName.Get, { accountId: world.accountId, mailbox: 'INBOX', uid: -1 }, `${replyTo}-5`);
      expect(invalid.outcome).toEqual({ failed: expect.stringContaining('invalid job payload') });
      expect(invalid.reply).toEqual({ id: `${replyTo}-5`, ok: false, code: 'internal' });

      const holders: string[] = [];
      for (const key of await world.client.keys('{pm-bull}:imap-commands:*')) {
        const type = await world.client.type(key);
        const values = type === 'hash' ? Object.values(await world.client.hgetall(key)) : type === 'stream' ? (await world.client.xrange(key, '-', '+')).flatMap(([, f]) => f) : [];
        if (values.some((v) => v.includes(marker))) holders.push(key);
      }
      expect(holders).toEqual([]);
      expect(await world.client.keys('pm:cmd-result:*')).toEqual([]);
    } finally {
      subscriber.disconnect();
    }
  });

  it('read-only commands pushed onto the request list: answered on the reply channel, none after its deadline, malformed ones dropped', async () => {
    const replyTo = `fast-${Date.now()}`;
    const subscriber = world.redis.client();
    const replies: CommandReply[] = [];
    subscriber.on('message', (_channel: string, message: string) => replies.push(JSON.parse(message) as CommandReply));
    await subscriber.subscribe(redisChannels.commandReplies(replyTo));
    const push = (request: object) => world.client.lpush(redisKeys.commandRequests, JSON.stringify(request));
    const deadline = () => Date.now() + 10_000;
    try {
      const uid = await deliver(mail('fast path'));
      await push({ id: 'late', name: ImapCommandJobName.MessageList, replyTo, deadline: Date.now() - 1, payload: { accountId: world.accountId, mailbox: 'INBOX' } });
      await world.client.lpush(redisKeys.commandRequests, 'not json');
      await push({ id: 'page', name: ImapCommandJobName.MessageList, replyTo, deadline: deadline(), payload: { accountId: world.accountId, mailbox: 'INBOX', limit: 1 } });
      await push({ id: 'search', name: ImapCommandJobName.MessageSearch, replyTo, deadline: deadline(), payload: { accountId: world.accountId, mailbox: 'INBOX', query: { subject: 'fast path' } } });
      await push({ id: 'boxes', name: ImapCommandJobName.MailboxList, replyTo, deadline: deadline(), payload: { accountId: world.accountId } });
      await push({ id: 'nobox', name: ImapCommandJobName.MessageList, replyTo, deadline: deadline(), payload: { accountId: world.accountId, mailbox: 'No Such Box' } });
      await push({ id: 'invalid', name: ImapCommandJobName.MessageList, replyTo, deadline: deadline(), payload: { accountId: world.accountId, mailbox: 'INBOX', limit: 0 } });
      // A command that changes mail is not taken from this list.
      await push({ id: 'move', name: ImapCommandJobName.MessageMove, replyTo, deadline: deadline(), payload: { accountId: world.accountId, mailbox: 'INBOX', uids: [uid], to: 'Trash' } });
      await waitFor(() => replies.length >= 5, 10_000, 'five replies');
      await sleep(300);
      const byId = Object.fromEntries(replies.map((r) => [r.id, r]));
      expect(Object.keys(byId).sort()).toEqual(['boxes', 'invalid', 'nobox', 'page', 'search']);
      expect(byId.page).toMatchObject({ ok: true, result: { messages: [expect.objectContaining({ uid, subject: 'fast path' })], nextBefore: expect.any(Number) } });
      expect(byId.search).toMatchObject({ ok: true, result: { messages: [expect.objectContaining({ uid })], total: 1 } });
      expect(byId.boxes).toMatchObject({ ok: true, result: { mailboxes: expect.arrayContaining([expect.objectContaining({ path: 'INBOX' })]) } });
      expect(byId.nobox).toEqual({ id: 'nobox', ok: false, code: 'not_found' });
      expect(byId.invalid).toEqual({ id: 'invalid', ok: false, code: 'internal' });
      expect(await world.client.llen(redisKeys.commandRequests)).toBe(0);
    } finally {
      subscriber.disconnect();
    }
  });

  it('flags, deleted and reset jobs append their events once and keep the stored copy current', async () => {
    const uid = await deliver(mail('lifecycle'));
    await finished(await world.fetchJob({ ...ref(), uid }));
    const flags: FlagsJob = { ...ref(), uid, flags: ['\\Seen', '\\Answered'], modseq: '42' };
    const f1 = await finished<{ eventId: string }>(await world.mailboxQueue.add(MailboxJobName.Flags, flags));
    const f2 = await finished<{ outcome: string; eventId: string }>(await world.mailboxQueue.add(MailboxJobName.Flags, flags));
    expect(f2).toEqual({ outcome: 'duplicate', eventId: f1.eventId });
    const stored = JSON.parse((await world.client.get(redisKeys.message(world.accountId, 'INBOX', uidValidity, uid)))!) as ParsedMessage;
    expect(stored.flags).toEqual(['\\Seen', '\\Answered']);

    await finished(await world.mailboxQueue.add(MailboxJobName.Deleted, { ...ref(), uid }));
    expect(await world.client.exists(redisKeys.message(world.accountId, 'INBOX', uidValidity, uid))).toBe(0);

    await finished(await world.mailboxQueue.add(MailboxJobName.Reset, { ...ref(), uidValidity: uidValidity + 1, previousUidValidity: uidValidity }));
    const log = await events();
    const mine = log.filter((e) => e.payload.uid === uid || e.name === 'mailbox.reset');
    expect(mine.map((e) => e.name)).toEqual(['message.new', 'message.flags', 'message.deleted', 'mailbox.reset']);
    expect(mine[1].payload).toEqual({ accountId: world.accountId, mailbox: 'INBOX', uid, flags: ['\\Seen', '\\Answered'] });
    expect(mine[3].payload).toEqual({ accountId: world.accountId, mailbox: 'INBOX', uidValidity: uidValidity + 1 });
    // The old generation's stored messages are gone with the reset.
    expect(await world.client.keys(`pm:msg:{${world.accountId}}:INBOX:${uidValidity}:*`)).toEqual([]);
  });

  it('a mailboxes-changed job appends mailboxes.changed once, also when retried', async () => {
    const job = { accountId: world.accountId, changeId: 'k1-abcd' };
    const first = await finished<{ outcome: string; eventId: string }>(await world.mailboxQueue.add(MailboxJobName.MailboxesChanged, job));
    const again = await finished<{ outcome: string; eventId: string }>(await world.mailboxQueue.add(MailboxJobName.MailboxesChanged, job));
    expect(first.outcome).toBe('appended');
    expect(again).toEqual({ outcome: 'duplicate', eventId: first.eventId });
    const changed = (await events()).filter((e) => e.name === 'mailboxes.changed');
    expect(changed.map((e) => e.payload)).toEqual([{ accountId: world.accountId }]);
  });

  it('survives an IMAP server restart: closed pooled connections are replaced, failed fetches retried', async () => {
    await finished(await world.fetchJob({ ...ref(), uid: await deliver(mail('before restart')) }));
    await world.dovecot.stop();
    const uid = nextUid;
    const job = await world.mailboxQueue.add(MailboxJobName.Fetch, { ...ref(), uid }, { attempts: 20, backoff: { type: 'fixed', delay: 250 } });
    await sleep(600);
    await world.dovecot.restart();
    await deliver(mail('after restart'));
    expect(await finished(job)).toMatchObject({ outcome: 'appended' });
    expect((await Job.fromId(world.mailboxQueue, job.id!))!.attemptsMade).toBeGreaterThan(0);
  });

  it('does not turn a burst for an account with a wrong password into a login storm', async () => {
    const bad = await world.stores.accounts.create({
      userId: 'u2',
      email: 'bad@example.test',
      imap: { ...world.dovecot.imapSettings(USER), pass: 'wrong' },
      smtp: { host: '127.0.0.1', port: 25, secure: false, user: 'x', pass: 'y' },
      mailboxes: ['INBOX'],
    });
    const failedLogins = () => (world.dovecot.logs().match(/auth failed/g) ?? []).length;
    const before = failedLogins();
    const jobs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => world.mailboxQueue.add(MailboxJobName.Fetch, { accountId: bad.id, mailbox: 'INBOX', uidValidity, uid: i + 1 }, { attempts: 1 })),
    );
    const outcomes = await Promise.allSettled(jobs.map((job) => finished(job)));
    expect(outcomes.every((o) => o.status === 'rejected')).toBe(true);
    await sleep(200); // Dovecot writes its log line after answering
    const attempts = failedLogins() - before;
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(attempts).toBeLessThanOrEqual(3);

    // Jobs retry for a day, so a refused login holds the account's logins back for 15 min, not the
    // seconds an unreachable server gets: later attempts fail without a login.
    await sleep(1500);
    const later = await Promise.all(
      Array.from({ length: 5 }, (_, i) => world.mailboxQueue.add(MailboxJobName.Fetch, { accountId: bad.id, mailbox: 'INBOX', uidValidity, uid: 100 + i }, { attempts: 1 })),
    );
    const laterOutcomes = await Promise.allSettled(later.map((job) => finished(job)));
    expect(laterOutcomes.every((o) => o.status === 'rejected')).toBe(true);
    await sleep(200);
    expect(failedLogins() - before).toBe(attempts);

    // New credentials deserve a login at once (here still wrong: one more refusal).
    await world.stores.accounts.update(bad.id, { imap: { ...world.dovecot.imapSettings(USER), pass: 'still wrong' } });
    await sleep(100); // the change notice reaches the fetcher over pub/sub
    await expect(finished(await world.mailboxQueue.add(MailboxJobName.Fetch, { accountId: bad.id, mailbox: 'INBOX', uidValidity, uid: 200 }, { attempts: 1 }))).rejects.toThrow();
    await sleep(200);
    expect(failedLogins() - before).toBe(attempts + 1);
  });

  it('does not publish a message whose deletion was logged while it was being fetched', async () => {
    const uid = await deliver(mail('deleted while parsing'));
    await finished(await world.mailboxQueue.add(MailboxJobName.Deleted, { ...ref(), uid }));
    // The message is still on the server, as it would be when the expunge overtook the fetch.
    expect(await finished(await world.fetchJob({ ...ref(), uid }))).toMatchObject({ outcome: 'dropped', reason: expect.stringContaining('deleted') });
    const names = (await events()).filter((e) => e.payload.uid === uid).map((e) => e.name);
    expect(names).toEqual(['message.deleted']);
  });

  it('fails a malformed job at once instead of retrying it', async () => {
    const job = await world.mailboxQueue.add(MailboxJobName.Fetch, { accountId: world.accountId, mailbox: 'INBOX' } as never, { attempts: 5 });
    await expect(finished(job)).rejects.toThrow(/invalid job payload/);
    expect((await Job.fromId(world.mailboxQueue, job.id!))!.attemptsMade).toBe(1);
  });

  it('drops jobs of a deleted account', async () => {
    const uid = await deliver(mail('after delete'));
    await world.stores.accounts.delete(world.accountId);
    await sleep(100); // the deletion notice reaches the fetcher over pub/sub
    expect(await finished(await world.fetchJob({ ...ref(), uid }))).toMatchObject({ outcome: 'dropped' });
    // Jobs that need no IMAP connection meet the deletion in the append script itself.
    const late = [
      await world.mailboxQueue.add(MailboxJobName.Flags, { ...ref(), uid, flags: ['\\Seen'], modseq: '7' }),
      await world.mailboxQueue.add(MailboxJobName.Deleted, { ...ref(), uid }),
      await world.mailboxQueue.add(MailboxJobName.Reset, { ...ref(), uidValidity: uidValidity + 1, previousUidValidity: uidValidity }),
      await world.mailboxQueue.add(MailboxJobName.MailboxesChanged, { accountId: world.accountId, changeId: 'after-delete' }),
    ];
    for (const job of late) expect(await finished(job)).toEqual({ outcome: 'dropped', reason: 'account deleted' });
    expect(await world.client.exists(redisKeys.eventLog(world.accountId))).toBe(0);
  });
});
