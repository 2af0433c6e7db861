import { ParsedMessage, ServerEvent, redisChannels, redisKeys, toMessageLogSummary } from '@pushmail/contracts';
import { SerializedPayload, parsePublishedEvent } from '@pushmail/event-log';
import { TestRedis, testStores, waitFor } from '@pushmail/testing';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('EventLogService on real Redis', () => {
  let redis: TestRedis;
  let stores: ReturnType<typeof testStores>;
  beforeAll(async () => {
    redis = await TestRedis.start();
    stores = testStores(redis.url);
  });
  afterAll(async () => {
    await stores?.close();
    await redis?.dispose();
  });

  const deleted = (uid: number) => ({ accountId: 'a1', mailbox: 'INBOX', uid });
  const opts = (key: string) => ({ dedupeKey: key, ttlSeconds: 60, maxLen: 10_000, seenAt: 123 });

  it('appends once per dedupe key, publishes with the id, and replays after an id', async () => {
    const sub = redis.client();
    const heard: string[] = [];
    sub.on('message', (_c, m) => heard.push(m));
    await sub.subscribe(redisChannels.events);
    const a = await stores.eventLog.append('a1', ServerEvent.MessageDeleted, deleted(1), opts('d1'));
    const again = await stores.eventLog.append('a1', ServerEvent.MessageDeleted, deleted(1), opts('d1'));
    const b = await stores.eventLog.append('a1', ServerEvent.MessageDeleted, deleted(2), opts('d2'));
    expect(again).toEqual({ eventId: a.eventId, duplicate: true });
    expect(b.duplicate).toBe(false);
    await waitFor(() => heard.length === 2, 2000, 'two notices');
    const notice = parsePublishedEvent(heard[0]);
    expect(notice).toMatchObject({ accountId: 'a1', seenAt: 123, event: { name: 'message.deleted', payload: { eventId: a.eventId, uid: 1 } } });
    const replay = await stores.eventLog.readAfter('a1', a.eventId);
    expect(replay.map((e) => e.payload.eventId)).toEqual([b.eventId]);
    expect(await stores.eventLog.isTrimmedPast('a1', a.eventId)).toBe(false);
    sub.disconnect();
  });

  it('reports when a since id was trimmed away by the cap', async () => {
    const first = await stores.eventLog.append('a2', ServerEvent.MessageDeleted, { ...deleted(1), accountId: 'a2' }, { ...opts('x0'), maxLen: 5 });
    for (let i = 1; i < 300; i++) {
      await stores.eventLog.append('a2', ServerEvent.MessageDeleted, { ...deleted(i + 1), accountId: 'a2' }, { dedupeKey: `x${i}`, ttlSeconds: 60, maxLen: 5 });
    }
    expect(await stores.eventLog.isTrimmedPast('a2', first.eventId)).toBe(true);
    const last = await stores.eventLog.lastEventId('a2');
    expect(await stores.eventLog.isTrimmedPast('a2', last!)).toBe(false);
  });

  it('trims entries older than maxAgeSeconds at the next append, by Redis’ clock, and says a since id before them is gone', async () => {
    const aged = (i: number) => stores.eventLog.append('a3', ServerEvent.MessageDeleted, { ...deleted(i), accountId: 'a3' }, { dedupeKey: `age${i}`, ttlSeconds: 60, maxLen: 10_000, maxAgeSeconds: 1 });
    const first = await aged(1);
    await aged(2);
    expect(await stores.redis.client.xlen(redisKeys.eventLog('a3'))).toBe(2);
    await new Promise((r) => setTimeout(r, 1100));
    const third = await aged(3);
    const left = await stores.eventLog.readAfter('a3', '0-0');
    expect(left.map((e) => e.payload.eventId)).toEqual([third.eventId]);
    expect(await stores.eventLog.isTrimmedPast('a3', first.eventId)).toBe(true);
    expect(await stores.eventLog.isTrimmedPast('a3', third.eventId)).toBe(false);
  });

  it('logs a summary and stores the body once; a replay joins them, and says bodyExpired once the body is gone', async () => {
    const message: ParsedMessage = {
      accountId: 'a4', mailbox: 'INBOX', uid: 7, uidValidity: 9, messageId: '<m7@example.test>', subject: 'Quarterly report',
      from: { name: 'Ann', address: 'ann@example.test' }, to: [{ name: '', address: 'bob@example.test' }], cc: [], date: '2026-01-01T00:00:00.000Z',
      receivedAt: '2026-01-01T00:00:01.000Z', flags: [], size: 50_000, preview: 'The figures', text: 'The figures '.repeat(2000), html: `<p>${'The figures '.repeat(2000)}</p>`,
      attachments: [{ partId: '2', filename: 'q.pdf', contentType: 'application/pdf', size: 1000, inline: false }],
    };
    const sub = redis.client();
    const heard: string[] = [];
    sub.on('message', (_c, m) => heard.push(m));
    await sub.subscribe(redisChannels.events);
    const bodyKey = redisKeys.message('a4', 'INBOX', 9, 7);
    const { eventId } = await stores.eventLog.append('a4', ServerEvent.MessageNew, message, {
      ...opts('n7'), storeKey: bodyKey, storeTtlSeconds: 600, summary: new SerializedPayload(JSON.stringify(toMessageLogSummary(message))),
    });
    // The stream entry: the summary and the body's key, not the body.
    const [[, fields]] = await stores.redis.client.xrange(redisKeys.eventLog('a4'), '-', '+');
    const entryBytes = fields.reduce((n, f) => n + Buffer.byteLength(f), 0);
    expect(entryBytes).toBeLessThan(2048 + 200);
    expect(fields).toContain(bodyKey);
    expect(fields.join('')).not.toContain('The figures The figures');
    // The body, once, with its eventId, for storeTtlSeconds; the dedupe marker keeps ttlSeconds.
    expect(JSON.parse((await stores.redis.client.get(bodyKey))!)).toEqual({ ...message, eventId });
    expect(await stores.redis.client.ttl(bodyKey)).toBeGreaterThan(590);
    expect(await stores.redis.client.ttl(redisKeys.eventDedupe('a4', 'n7'))).toBeLessThanOrEqual(60);
    // Live: the full message.
    await waitFor(() => heard.length === 1, 2000, 'the notice');
    expect(parsePublishedEvent(heard[0]).event.payload).toEqual({ eventId, ...message });
    // Replay while the body is stored: the same as live.
    expect((await stores.eventLog.readAfter('a4', '0-0'))[0].payload).toEqual({ ...message, eventId });
    // Body gone: the summary, flagged.
    await stores.redis.client.del(bodyKey);
    const [expired] = await stores.eventLog.readAfter('a4', '0-0');
    const { text: _t, html: _h, ...summary } = message;
    expect(expired).toEqual({ name: ServerEvent.MessageNew, payload: { ...summary, eventId, bodyExpired: true } });
    // A copy message.get stored later (without an eventId) is joined again, with the entry's eventId.
    await stores.redis.client.set(bodyKey, JSON.stringify(message));
    expect((await stores.eventLog.readAfter('a4', '0-0'))[0].payload).toEqual({ ...message, eventId });
    sub.disconnect();
  });

  it('refuses a stored payload without a summary', async () => {
    await expect(stores.eventLog.append('a5', ServerEvent.MessageDeleted, { ...deleted(1), accountId: 'a5' }, { ...opts('s1'), storeKey: 'pm:x', storeTtlSeconds: 60 })).rejects.toThrow(/go together/);
  });

  it('appends only while the whileExists key is there, and then creates no log, no marker and no notice', async () => {
    const sub = redis.client();
    const heard: string[] = [];
    sub.on('message', (_c, m) => heard.push(m));
    await sub.subscribe(redisChannels.events);
    const account = redisKeys.account('a6');
    const guarded = (key: string, extra: { unlessLogged?: string } = {}) =>
      stores.eventLog.appendGuarded('a6', ServerEvent.MessageDeleted, { ...deleted(1), accountId: 'a6' }, { ...opts(key), whileExists: account, ...extra });
    expect(await guarded('g1')).toEqual({ cancelled: 'gone' });
    expect(await stores.redis.client.exists(redisKeys.eventLog('a6'), redisKeys.eventDedupe('a6', 'g1'))).toBe(0);
    await stores.redis.client.hset(account, 'userId', 'u1');
    const kept = await guarded('g1');
    expect(kept).toMatchObject({ duplicate: false, eventId: expect.any(String) });
    // Both guards: the missing account wins over the cancelling marker, and a present marker cancels as before.
    expect(await guarded('g2', { unlessLogged: 'g1' })).toEqual({ cancelled: 'logged' });
    await stores.redis.client.del(account);
    expect(await guarded('g3', { unlessLogged: 'g1' })).toEqual({ cancelled: 'gone' });
    expect((await stores.eventLog.readAfter('a6', '0')).map((e) => e.payload.eventId)).toEqual([(kept as { eventId: string }).eventId]);
    await sleep(100);
    expect(heard).toHaveLength(1);
    sub.disconnect();
  });
});
