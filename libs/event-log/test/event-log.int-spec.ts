import { ServerEvent, redisChannels, redisKeys } from '@pushmail/contracts';
import { parsePublishedEvent } from '@pushmail/event-log';
import { TestRedis, testStores, waitFor } from '@pushmail/testing';

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
});
