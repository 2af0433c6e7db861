import { ServerEvent } from '@pushmail/contracts';
import { AppProcess, SmtpSink, TestRedis, freePort, sleep, testStores, waitFor } from '@pushmail/testing';
import { ADMIN_TOKEN, ClientSocket, call, connect, gatewayEnv, newMessage, okAck, record, tokenFor } from './helpers';

/**
 * Two gateway processes (the built app, as deployed) behind one Redis: events and send results
 * reach clients whichever gateway they are on, and a SIGTERM hands clients over without loss.
 */
jest.setTimeout(30_000);

describe('two gateways', () => {
  let redis: TestRedis;
  let sink: SmtpSink;
  let stores: ReturnType<typeof testStores>;
  let a: AppProcess;
  let b: AppProcess;
  let accountId: string;
  let uid = 0;
  const sockets: ClientSocket[] = [];
  const tokens: string[] = [];
  const open = async (gateway: AppProcess) => {
    const token = await tokenFor('u1');
    tokens.push(token);
    const s = await connect(gateway.url, token);
    sockets.push(s);
    return s;
  };
  const append = () => stores.eventLog.append(accountId, ServerEvent.MessageNew, newMessage(accountId, ++uid), { ttlSeconds: 3600, maxLen: 10_000, dedupeKey: `n-${uid}` });
  const env = () => gatewayEnv(redis.url, { SHUTDOWN_DRAIN_MS: '3000', SHUTDOWN_RECONNECT_JITTER_MS: '100' });

  beforeAll(async () => {
    redis = await TestRedis.start();
    sink = await SmtpSink.start();
    stores = testStores(redis.url);
    [a, b] = await Promise.all([AppProcess.start('gateway', { ...env(), INSTANCE_ID: 'gw-a' }), AppProcess.start('gateway', { ...env(), INSTANCE_ID: 'gw-b', LOG_LEVEL: 'debug' })]);
    // No IMAP server here: the Sent copy fails fast (connection refused) instead of holding a send job open.
    const imap = { ...sink.settings('alice', 'imap-pass-multi'), port: await freePort() };
    accountId = (await stores.accounts.create({ userId: 'u1', email: 'alice@example.test', imap, smtp: sink.settings('alice', 'smtp-pass-multi'), mailboxes: ['INBOX'] })).id;
  });
  afterEach(() => sockets.splice(0).forEach((s) => s.close()));
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    // Gateway B logged at debug level through sends, refusals and a handover: still no secret.
    const logs = a.logs() + b.logs();
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of ['imap-pass-multi', 'smtp-pass-multi', 'test-admin-token', ...tokens]) expect(logs).not.toContain(secret);
    await stores?.close();
    await sink?.stop();
    await redis?.dispose();
  });

  it('delivers an event to a client on gateway A and a client on gateway B, once each', async () => {
    const [onA, onB] = await Promise.all([open(a), open(b)]);
    const [seenA, seenB] = [record(onA), record(onB)];
    await Promise.all([call(onA, 'subscribe', { accountId }), call(onB, 'subscribe', { accountId })]);
    const { eventId } = await append();
    // A later sentinel event instead of a sleep: once both have it, a second copy of the first would be in too.
    const { eventId: sentinel } = await append();
    await waitFor(() => seenA.some((e) => e.payload.eventId === sentinel) && seenB.some((e) => e.payload.eventId === sentinel), 5000, 'the sentinel on both gateways');
    expect(seenA.map((e) => e.payload.eventId)).toEqual([eventId, sentinel]);
    expect(seenB.map((e) => e.payload.eventId)).toEqual([eventId, sentinel]);
  });

  it('reports a send to subscribers on the other gateway too', async () => {
    const [sender, watcher] = await Promise.all([open(a), open(b)]);
    const seen = record(watcher);
    await call(watcher, 'subscribe', { accountId });
    const { sendId } = okAck(await call(sender, 'message.send', { accountId, idempotencyKey: 'cross-1', to: [{ address: 'bob@example.test' }], subject: 'across gateways', text: 'hi' }));
    const sent = await waitFor(() => seen.find((e) => e.name === ServerEvent.MessageSent), 10_000, 'message.sent on gateway B');
    expect(sent.payload).toMatchObject({ sendId, accountId });
    // A second send as the sentinel: its message.sent travels the same way, after the first one's.
    const { sendId: sentinel } = okAck(await call(sender, 'message.send', { accountId, idempotencyKey: 'cross-2', to: [{ address: 'bob@example.test' }], subject: 'sentinel', text: 'hi' }));
    await waitFor(() => seen.find((e) => e.name === ServerEvent.MessageSent && e.payload.sendId === sentinel), 10_000, 'the sentinel send on gateway B');
    expect(seen.filter((e) => e.name === ServerEvent.MessageSent).map((e) => e.payload.sendId)).toEqual([sendId, sentinel]);
    expect(sink.received.filter((m) => m.raw.includes('across gateways'))).toHaveLength(1);
  });

  it("tells the owner's sockets on both gateways of an account added, changed and removed elsewhere, subscribed or not; nobody else", async () => {
    const [onA, onB] = await Promise.all([open(a), open(b)]);
    const stranger = await connect(b.url, await tokenFor('u2'));
    sockets.push(stranger);
    const [seenA, seenB, seenStranger] = [onA, onB, stranger].map(record);
    const owner = await tokenFor('u1');
    tokens.push(owner);
    const http = (gateway: AppProcess, token: string, method: string, path: string, body?: unknown) =>
      fetch(gateway.url + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const changes = (seen: ReturnType<typeof record>) => seen.filter((e) => e.name === ServerEvent.AccountChanged).map((e) => e.payload);
    const server = sink.settings('carol', 'imap-pass-changed');

    // Added by the user on another device (the user API, gateway A); changed by the operator (the
    // admin API, gateway B); removed by the user again.
    const created = await http(a, owner, 'POST', '/api/me/accounts', { email: 'carol@example.test', imap: { ...server, port: await freePort() }, smtp: server });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect((await http(b, ADMIN_TOKEN, 'PATCH', `/api/accounts/${id}`, { mailboxes: ['INBOX', 'Sent'] })).status).toBe(200);
    expect((await http(a, owner, 'DELETE', `/api/me/accounts/${id}`)).status).toBe(204);

    for (const seen of [seenA, seenB]) await waitFor(() => changes(seen).length >= 3, 5000, 'three account.changed events');
    for (const seen of [seenA, seenB]) {
      expect(changes(seen)).toEqual([
        { accountId: id, change: 'created', account: expect.objectContaining({ id, userId: 'u1', email: 'carol@example.test', mailboxes: ['*'], protocol: 'imap' }) },
        { accountId: id, change: 'updated', account: expect.objectContaining({ id, mailboxes: ['INBOX', 'Sent'] }) },
        { accountId: id, change: 'deleted' },
      ]);
    }
    // The view, never the settings.
    expect(JSON.stringify(changes(seenA))).not.toMatch(/imap-pass-changed|"imap":|"smtp":/);

    // Another user's account: its owner hears of it, u1's sockets do not. u1's own change after it
    // is the sentinel (each gateway handles the notices in the order they were published).
    const theirs = await stores.accounts.create({ userId: 'u2', email: 'dave@example.test', imap: server, smtp: server, mailboxes: ['INBOX'] });
    const sentinel = await stores.accounts.create({ userId: 'u1', email: 'erin@example.test', imap: server, smtp: server, mailboxes: ['INBOX'] });
    await waitFor(() => changes(seenStranger).length === 1, 5000, "the stranger's own account.changed");
    for (const seen of [seenA, seenB]) await waitFor(() => changes(seen).some((c) => c.accountId === sentinel.id), 5000, 'the sentinel');
    expect(changes(seenStranger)).toEqual([{ accountId: theirs.id, change: 'created', account: expect.objectContaining({ userId: 'u2' }) }]);
    for (const seen of [seenA, seenB]) expect(changes(seen).map((c) => c.accountId)).toEqual([id, id, id, sentinel.id]);
    await stores.accounts.delete(sentinel.id);
    await stores.accounts.delete(theirs.id);
  });

  it('on SIGTERM, tells its clients to go; they resume on the other gateway with since and lose nothing', async () => {
    const client = await open(a);
    const seen = record(client);
    let last: string | undefined;
    client.onAny((_name: string, payload: { eventId?: string }) => {
      if (payload?.eventId) last = payload.eventId;
    });
    okAck(await call(client, 'subscribe', { accountId }));

    // Events keep coming during the whole handover.
    const appended: string[] = [];
    let writing = true;
    const writer = (async () => {
      while (writing) {
        appended.push((await append()).eventId);
        await sleep(10);
      }
    })();
    await waitFor(() => seen.length >= 5, 5000, 'a few live events before the shutdown');

    let seenOnB: ReturnType<typeof record> = [];
    const moved = new Promise<ClientSocket>((resolve, reject) => {
      client.once(ServerEvent.ServerShutdown, ({ reconnectInMs }) => {
        client.close();
        setTimeout(() => {
          open(b)
            .then(async (next) => {
              seenOnB = record(next); // before subscribing: replayed events come before the ack
              // The writer has appended past the last event this client saw, so the replay has something to carry.
              await waitFor(() => appended.includes(last!) && appended.length > appended.indexOf(last!) + 1, 5000, 'an event after the last one seen');
              const ack = okAck(await call(next, 'subscribe', { accountId, since: last }));
              // Exactly the events after `since` that were logged when B answered: they came before the ack, in order.
              const from = appended.indexOf(last!) + 1;
              expect(ack.replayed).toBeGreaterThan(0);
              expect(seenOnB.slice(0, ack.replayed).map((e) => e.payload.eventId)).toEqual(appended.slice(from, from + ack.replayed));
              resolve(next);
            })
            .catch(reject);
        }, reconnectInMs);
      });
    });
    const sigterm = a.stop('SIGTERM');
    await moved;
    await sigterm;
    expect(a.child.exitCode).toBe(0);
    await sleep(200);
    writing = false;
    await writer;

    const logged = (events: typeof seen) => events.filter((e) => e.name === ServerEvent.MessageNew).map((e) => e.payload.eventId!);
    const all = logged(seen);
    await waitFor(() => {
      const got = new Set([...all, ...logged(seenOnB)]);
      return appended.every((id) => got.has(id));
    }, 10_000, 'every appended event on one gateway or the other');
    expect(seen.some((e) => e.name === ServerEvent.ServerShutdown)).toBe(true);
    const ids = [...all, ...logged(seenOnB)];
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(appended.filter((id) => ids.includes(id)));
    expect(ids).toHaveLength(appended.length);
  });
});
