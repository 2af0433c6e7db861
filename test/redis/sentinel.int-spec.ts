import { PushmailClient } from '@pushmail/client';
import { ServerEvent } from '@pushmail/contracts';
import { AppProcess, SmtpSink, TestDovecot, TestRedisSentinel, sleep, waitFor } from '@pushmail/testing';
import { call, connect, okAck, record, tokenFor } from '../../apps/gateway/test/helpers';
import { AppsOnRedis, appEnvFor, appWarnings, startAppsOnRedis } from './support/apps-on-redis';

jest.setTimeout(60_000);

const ACCOUNTS = 4;
/** Deliveries per second while the master is killed, spread over the accounts in turn. */
const RATE = 10;
const USER_ID = 'sentinel-user';
const users = Array.from({ length: ACCOUNTS }, (_, i) => `sentinel${i}@example.test`);

interface Delivery {
  n: number;
  user: string;
  messageId: string;
  /** When Dovecot answered 250 over LMTP: from here on the message must reach the client. */
  ackAt?: number;
  error?: string;
}

/**
 * The built watcher, fetcher and gateway on a real Sentinel set (a master, a replica, three
 * sentinels; REDIS_SENTINELS instead of REDIS_URL): LMTP delivery → message.new at a client, then
 * the master is SIGKILLed under load and the replica promoted, and every acknowledged delivery
 * must still reach the client exactly once.
 */
describe('Redis Sentinel: end to end and a master failover under load', () => {
  let set: TestRedisSentinel;
  let dovecot: TestDovecot;
  let sink: SmtpSink;
  let client: PushmailClient;
  let accountOf: Map<string, string>;
  const procs: AppProcess[] = [];
  /** message.new the application saw, by Message-ID. */
  let received: AppsOnRedis['received'];

  /** Each app's environment on the Sentinel set (read when the app starts). */
  const envFor = appEnvFor(() => set.env(), 'sentinel', procs);

  beforeAll(async () => {
    [set, dovecot, sink] = await Promise.all([TestRedisSentinel.start(), TestDovecot.start({ users: Object.fromEntries(users.map((u, i) => [u, `sentinel-pw-${i}`])) }), SmtpSink.start()]);
    ({ accountOf, received, client } = await startAppsOnRedis({ redis: set, envFor, dovecot, sink, users, userId: USER_ID, procs }));
  }, 90_000);

  afterAll(async () => {
    client?.close();
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    await sink?.stop();
    await dovecot?.dispose();
    await set?.dispose();
  }, 30_000);

  it('pushes message.new after an LMTP delivery, with the apps on REDIS_SENTINELS', async () => {
    await dovecot.deliver(users[0], { subject: 'through sentinel', text: 'hello', messageId: '<sentinel-e2e@example.test>' });
    await waitFor(() => received.get('<sentinel-e2e@example.test>'), 15_000, 'message.new through the Sentinel set');
    expect(received.get('<sentinel-e2e@example.test>')).toHaveLength(1);
    // The apps really are on the master the sentinels name (not on a URL left in the environment).
    const master = (await set.master()).client();
    try {
      const names = (await master.client('LIST')) as string;
      expect(names).toMatch(/name=command/);
      expect(names).toMatch(/name=bullmq/);
    } finally {
      master.disconnect();
    }
  });

  it('carries message.sent to a subscriber on the other gateway (Socket.IO adapter on Sentinel)', async () => {
    const [sender, subscriber] = await Promise.all([connect(procs[2].url, await tokenFor(USER_ID)), connect(procs[3].url, await tokenFor(USER_ID))]);
    try {
      const accountId = accountOf.get(users[0])!;
      const seen = record(subscriber);
      okAck(await call(subscriber, 'subscribe', { accountId }));
      // Four sends: both gateways run send workers, so some are sent (and announced) by the sender's gateway.
      const sendIds: string[] = [];
      for (let i = 0; i < 4; i++) sendIds.push(okAck(await call(sender, 'message.send', { accountId, idempotencyKey: `adapter-${i}`, to: [{ address: 'bob@example.test' }], subject: `adapter ${i}`, text: 'hi' })).sendId);
      await waitFor(() => sendIds.every((id) => seen.some((e) => e.name === ServerEvent.MessageSent && e.payload.sendId === id)), 15_000, 'message.sent for every send on the other gateway');
    } finally {
      sender.close();
      subscriber.close();
    }
  });

  it('loses and repeats no acknowledged delivery when the master is killed under load', async () => {
    const deliveries: Delivery[] = [];
    const inFlight = new Set<Promise<void>>();
    let counter = 0;
    const deliver = () => {
      const n = counter++;
      const d: Delivery = { n, user: users[n % ACCOUNTS], messageId: `<failover-${n}@example.test>` };
      deliveries.push(d);
      const p = dovecot
        .deliver(d.user, { subject: `failover ${n}`, text: `message ${n}`, messageId: d.messageId })
        .then(() => void (d.ackAt = Date.now()))
        .catch((err: Error) => void (d.error = err.message))
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    };
    const flowing = setInterval(deliver, 1000 / RATE);
    // Beside the apps: writes the master acknowledged, some also confirmed by the replica (WAIT 1),
    // to test what docs/operations.md states a failover can lose.
    const probe = set.client();
    const confirmed: number[] = [];
    let lastAcked = 0;
    let writing = true;
    const writes = (async () => {
      for (let i = 1; writing; i++) {
        try {
          await probe.set(`probe:${i}`, '1');
          lastAcked = i;
          if (Number(await probe.call('WAIT', 1, 1000)) >= 1) confirmed.push(i);
        } catch {
          await sleep(50); // the master is gone: the client reconnects through the sentinels
        }
        await sleep(10);
      }
    })();
    let failover: Awaited<ReturnType<TestRedisSentinel['killMaster']>>;
    try {
      await sleep(3000);
      failover = await set.killMaster();
      await sleep(5000);
    } finally {
      clearInterval(flowing);
      writing = false;
      await writes;
    }
    const present = await Promise.all(Array.from({ length: lastAcked }, (_, i) => probe.exists(`probe:${i + 1}`)));
    probe.disconnect();
    const confirmedMissing = confirmed.filter((i) => present[i - 1] === 0);
    const acknowledgedMissing = present.filter((p) => p === 0).length;
    await Promise.all([...inFlight]);
    const acked = deliveries.filter((d) => d.ackAt !== undefined);
    await waitFor(() => acked.every((d) => received.has(d.messageId)), 45_000, 'every acknowledged delivery at the client', 250).catch(() => undefined);
    // A marker per account after the rest: once each is in, a late second copy of anything earlier would be too.
    for (const [i, user] of users.entries()) await dovecot.deliver(user, { subject: 'marker', messageId: `<failover-marker-${i}@example.test>` });
    await waitFor(() => users.every((_, i) => received.has(`<failover-marker-${i}@example.test>`)), 30_000, 'the markers', 100).catch((err: Error) => {
      throw new Error(`${err.message}; ${acked.filter((d) => received.has(d.messageId)).length} of ${acked.length} acknowledged arrived; app warnings: ${JSON.stringify(appWarnings(procs), null, 1)}`);
    });

    const lost = acked.filter((d) => !received.has(d.messageId)).map((d) => d.messageId);
    const twice = acked.filter((d) => (received.get(d.messageId)?.length ?? 0) > 1).map((d) => d.messageId);
    console.log(`sentinel failover figures: ${JSON.stringify({ failoverMs: failover.failoverMs, attempted: deliveries.length, acknowledged: acked.length, lost: lost.length, duplicated: twice.length, probeWrites: { acknowledged: lastAcked, confirmedByReplica: confirmed.length, confirmedMissing: confirmedMissing.length, acknowledgedMissing }, appWarnings: appWarnings(procs) })}`);
    // What the replica confirmed survives the failover; what it had not may not (counted, not asserted: on loopback the lag is tiny).
    expect(confirmedMissing).toEqual([]);
    expect(confirmed.length).toBeGreaterThan(10);
    expect(acked.length).toBeGreaterThan(RATE * 5);
    expect(lost).toEqual([]);
    expect(twice).toEqual([]);
    // The apps followed the promotion: they are connected to the new master.
    const master = failover.promoted.client();
    try {
      expect((await master.client('LIST')) as string).toMatch(/name=command/);
    } finally {
      master.disconnect();
    }
  }, 120_000);
});
