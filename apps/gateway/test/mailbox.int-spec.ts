import { INestApplication } from '@nestjs/common';
import { PushmailClient } from '@pushmail/client';
import { MessageSummary, redisKeys } from '@pushmail/contracts';
import { AppProcess, TestDovecot, TestRedis, testEnv, testStores, waitFor } from '@pushmail/testing';
import { ClientSocket, call, connect, okAck, record, startGateway, tokenFor } from './helpers';

/**
 * The whole mailbox: mailbox.list, message.list, message.search, message.move, message.delete and
 * message.flag/get in any folder, through the gateway (in process), the built fetcher and watcher,
 * against a real Dovecot whose INBOX already held 120 messages when the account was added.
 */
jest.setTimeout(60_000);

const USER = 'history@example.test';
const HISTORY = 120;

/** Message n: from alice for even n, bob for odd; dated 2024-01-(1 + n % 28); every third one unread. */
function historic(n: number): string {
  const sender = n % 2 === 0 ? 'Alice <alice@example.test>' : 'Bob <bob@example.test>';
  const day = String(1 + (n % 28)).padStart(2, '0');
  const body = n === 7 ? 'the zanzibar clause is attached' : `body of message ${n}`;
  return [`From: ${sender}`, `To: ${USER}`, `Subject: history ${n}`, `Message-ID: <history-${n}@example.test>`, `Date: ${day} Jan 2024 10:00:00 +0000`, '', body, ''].join('\r\n');
}

describe('the whole mailbox over the gateway', () => {
  let redis: TestRedis;
  let dovecot: TestDovecot;
  let stores: ReturnType<typeof testStores>;
  let app: INestApplication;
  let url: string;
  let fetcher: AppProcess;
  let watcher: AppProcess;
  let accountId: string;
  const sockets: ClientSocket[] = [];
  const open = async (user = 'u1') => {
    const s = await connect(url, await tokenFor(user));
    sockets.push(s);
    return s;
  };
  const serverUids = async (mailbox: string) => {
    const client = await dovecot.imap(USER);
    try {
      await client.mailboxOpen(mailbox);
      return ((await client.search({ all: true }, { uid: true })) || []).sort((a, b) => a - b);
    } finally {
      await client.logout();
    }
  };
  const serverFlags = async (mailbox: string, uid: number) => {
    const client = await dovecot.imap(USER);
    try {
      await client.mailboxOpen(mailbox);
      const row = await client.fetchOne(String(uid), { flags: true }, { uid: true });
      return [...((row && row.flags) || [])];
    } finally {
      await client.logout();
    }
  };

  beforeAll(async () => {
    [redis, dovecot] = await Promise.all([TestRedis.start(), TestDovecot.start({ users: { [USER]: 'pass-history' } })]);
    // The history is on the server before the account exists; every third message unread.
    const client = await dovecot.imap(USER);
    await client.mailboxCreate('Archive');
    for (let n = 1; n <= HISTORY; n++) await client.append('INBOX', historic(n), n % 3 === 0 ? [] : ['\\Seen']);
    await client.logout();

    stores = testStores(redis.url);
    ({ app, url } = await startGateway(redis.url));
    const common = testEnv(redis.url);
    [fetcher, watcher] = await Promise.all([
      AppProcess.start('fetcher', common),
      AppProcess.start('watcher', { ...common, RECONCILE_INTERVAL_MS: '500', BACKOFF_MIN_MS: '100', BACKOFF_MAX_MS: '1000' }),
    ]);
    const imap = dovecot.imapSettings(USER);
    accountId = (await stores.accounts.create({ userId: 'u1', email: USER, imap, smtp: imap, mailboxes: ['INBOX', 'Archive'] })).id;
    await waitFor(async () => (await stores.accounts.getState(accountId))?.state === 'connected', 20_000, 'the watcher to connect the account', 100);
  });
  afterEach(() => sockets.splice(0).forEach((s) => s.close()));
  afterAll(async () => {
    await Promise.all([fetcher?.stop(), watcher?.stop()]);
    await app?.close();
    await stores?.close();
    await dovecot?.dispose();
    await redis?.dispose();
  });

  it('message.list pages through the 120 messages already there, newest first, with no gap or repeat', async () => {
    const socket = await open();
    const seen: MessageSummary[] = [];
    let before: number | undefined;
    let pages = 0;
    for (;;) {
      const page = okAck(await call(socket, 'message.list', { accountId, mailbox: 'INBOX', limit: 50, ...(before ? { before } : {}) }));
      pages++;
      expect(page.total).toBe(HISTORY);
      seen.push(...page.messages);
      if (page.nextBefore === null) break;
      before = page.nextBefore;
    }
    expect(pages).toBe(3);
    expect(seen.map((m) => m.uid)).toEqual(Array.from({ length: HISTORY }, (_, i) => HISTORY - i));
    expect(seen[0]).toEqual({
      accountId,
      mailbox: 'INBOX',
      uidValidity: expect.any(Number),
      uid: HISTORY,
      messageId: `<history-${HISTORY}@example.test>`,
      subject: `history ${HISTORY}`,
      from: { name: 'Alice', address: 'alice@example.test' },
      to: [{ name: '', address: USER }],
      cc: [],
      date: '2024-01-09T10:00:00.000Z',
      flags: [],
      size: expect.any(Number),
      preview: '',
      hasAttachments: false,
    });
    // The default page is 50.
    expect(okAck(await call(socket, 'message.list', { accountId, mailbox: 'INBOX' })).messages).toHaveLength(50);
  });

  it("mailbox.list returns Dovecot's folders with special use and counts, and the counts follow a delivery", async () => {
    const socket = await open();
    const { mailboxes } = okAck(await call(socket, 'mailbox.list', { accountId }));
    const byPath = new Map(mailboxes.map((m) => [m.path, m]));
    expect(byPath.get('INBOX')).toMatchObject({ name: 'INBOX', specialUse: '\\Inbox', messages: HISTORY, unseen: HISTORY / 3, uidNext: HISTORY + 1, watched: true, parent: null });
    expect(byPath.get('Trash')).toMatchObject({ specialUse: '\\Trash', messages: 0, watched: false });
    expect(byPath.get('Sent')).toMatchObject({ specialUse: '\\Sent' });
    expect(byPath.get('Drafts')).toMatchObject({ specialUse: '\\Drafts' });
    expect(byPath.get('Junk')).toMatchObject({ specialUse: '\\Junk' });
    expect(byPath.get('Archive')).toMatchObject({ watched: true, messages: 0, delimiter: '/' });

    await dovecot.deliver(USER, { subject: 'a new one', messageId: '<new-one@example.test>' });
    const after = okAck(await call(socket, 'mailbox.list', { accountId })).mailboxes.find((m) => m.path === 'INBOX');
    expect(after).toMatchObject({ messages: HISTORY + 1, unseen: HISTORY / 3 + 1, uidNext: HISTORY + 2 });
    // A list right after a delivery includes it: the pooled session's view is refreshed first.
    const first = okAck(await call(socket, 'message.list', { accountId, mailbox: 'INBOX', limit: 1 }));
    expect(first).toMatchObject({ total: HISTORY + 1, nextBefore: HISTORY + 1, messages: [{ uid: HISTORY + 1, subject: 'a new one' }] });
  });

  it('mailbox.list reports "*" as the watcher reads it: every folder but \\All, \\Junk and \\Trash, and named ones beside it', async () => {
    const socket = await open();
    const watched = async () => new Map(okAck(await call(socket, 'mailbox.list', { accountId })).mailboxes.map((m) => [m.path, m.watched]));
    await stores.accounts.update(accountId, { mailboxes: ['*', 'Junk'] });
    try {
      const byPath = await watched();
      expect(Object.fromEntries(['INBOX', 'Sent', 'Drafts', 'Archive', 'Junk', 'Trash'].map((p) => [p, byPath.get(p)]))).toEqual({ INBOX: true, Sent: true, Drafts: true, Archive: true, Junk: true, Trash: false });
    } finally {
      await stores.accounts.update(accountId, { mailboxes: ['INBOX', 'Archive'] });
    }
  });

  it('message.search finds by text, from, subject, unseen and a date range, and nothing for an unknown term', async () => {
    const socket = await open();
    const search = async (query: object, extra: object = {}) => okAck(await call(socket, 'message.search', { accountId, mailbox: 'INBOX', query, ...extra }));
    const uids = async (query: object) => (await search(query, { limit: 200 })).messages.map((m) => m.uid);

    expect(await uids({ text: 'zanzibar' })).toEqual([7]);
    expect(await uids({ subject: 'history 11' })).toEqual([119, 118, 117, 116, 115, 114, 113, 112, 111, 110, 11]);
    const fromBob = await uids({ from: 'bob@example.test' });
    expect(fromBob).toHaveLength(HISTORY / 2);
    expect(fromBob.every((uid) => uid % 2 === 1)).toBe(true);
    const unseen = await uids({ unseen: true, subject: 'history' });
    expect(unseen.sort((a, b) => a - b)).toEqual(Array.from({ length: HISTORY / 3 }, (_, i) => (i + 1) * 3));
    expect(await uids({ text: 'no message holds this term qqxq' })).toEqual([]);
    const paged = await search({ from: 'alice@example.test' }, { limit: 25 });
    expect(paged).toMatchObject({ total: HISTORY / 2, nextBefore: paged.messages[24]!.uid });
    expect(paged.messages).toHaveLength(25);
    const rest = await search({ from: 'alice@example.test' }, { limit: 200, before: paged.nextBefore });
    expect(rest.nextBefore).toBeNull();
    expect(new Set([...paged.messages, ...rest.messages].map((m) => m.uid)).size).toBe(HISTORY / 2);
  });

  it('message.search by a date range uses the received date (IMAP SINCE/BEFORE)', async () => {
    const client = await dovecot.imap(USER);
    await client.mailboxCreate('Dated');
    await client.append('Dated', historic(201), ['\\Seen'], new Date('2023-05-10T12:00:00Z'));
    await client.append('Dated', historic(202), ['\\Seen'], new Date('2023-06-10T12:00:00Z'));
    await client.append('Dated', historic(203), ['\\Seen'], new Date('2023-07-10T12:00:00Z'));
    await client.logout();
    const socket = await open();
    const page = okAck(await call(socket, 'message.search', { accountId, mailbox: 'Dated', query: { since: '2023-06-01', before: '2023-07-01' } }));
    expect(page.messages.map((m) => m.subject)).toEqual(['history 202']);
  });

  it('move, delete to Trash, delete from Trash and flag act on the server before the ack; the events follow for watched folders', async () => {
    const socket = await open();
    const events = record(socket);
    okAck(await call(socket, 'subscribe', { accountId }));

    const moved = okAck(await call(socket, 'message.move', { accountId, mailbox: 'INBOX', uids: [100, 101], to: 'Archive' }));
    expect(moved.moved.map((m) => m.uid)).toEqual([100, 101]);
    expect(moved.moved.every((m) => typeof m.newUid === 'number')).toBe(true);
    const inbox = await serverUids('INBOX');
    expect(inbox).not.toContain(100);
    expect(inbox).not.toContain(101);
    expect(await serverUids('Archive')).toEqual(moved.moved.map((m) => m.newUid));
    await waitFor(() => events.filter((e) => e.name === 'message.deleted' && e.payload.mailbox === 'INBOX').length === 2, 15_000, 'message.deleted for both moved messages');
    await waitFor(() => events.filter((e) => e.name === 'message.new' && e.payload.mailbox === 'Archive').length === 2, 15_000, 'message.new in Archive');
    expect(events.find((e) => e.name === 'message.new' && e.payload.mailbox === 'Archive')?.payload).toMatchObject({ subject: expect.stringMatching(/^history 10[01]$/) });

    okAck(await call(socket, 'message.delete', { accountId, mailbox: 'INBOX', uids: [99] }));
    expect(await serverUids('INBOX')).not.toContain(99);
    const trash = await serverUids('Trash');
    expect(trash).toHaveLength(1);
    await waitFor(() => events.some((e) => e.name === 'message.deleted' && e.payload.mailbox === 'INBOX' && e.payload.uid === 99), 15_000, 'message.deleted for 99');

    // Trash is not watched: flag and get still work there, fetched on demand.
    okAck(await call(socket, 'message.flag', { accountId, mailbox: 'Trash', uid: trash[0], add: ['\\Flagged'] }));
    expect(await serverFlags('Trash', trash[0]!)).toContain('\\Flagged');
    expect(okAck(await call(socket, 'message.get', { accountId, mailbox: 'Trash', uid: trash[0] })).message).toMatchObject({ mailbox: 'Trash', subject: 'history 99' });

    okAck(await call(socket, 'message.delete', { accountId, mailbox: 'Trash', uids: trash }));
    expect(await serverUids('Trash')).toEqual([]);

    okAck(await call(socket, 'message.delete', { accountId, mailbox: 'INBOX', uids: [98], permanent: true }));
    expect(await serverUids('INBOX')).not.toContain(98);
    expect(await serverUids('Trash')).toEqual([]);

    expect(await call(socket, 'message.move', { accountId, mailbox: 'INBOX', uids: [97], to: 'No such folder' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await call(socket, 'message.list', { accountId, mailbox: 'No such folder' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    // Archiving to a folder that does not exist yet: `create` makes it.
    const created = okAck(await call(socket, 'message.move', { accountId, mailbox: 'INBOX', uids: [97], to: 'Archived', create: true }));
    expect(created.moved).toEqual([{ uid: 97, newUid: 1 }]);
    expect(await serverUids('Archived')).toEqual([1]);
  });

  it("answers forbidden for another user's account and for an unknown one, for every new command", async () => {
    const socket = await open('u2');
    const requests: Array<[string, object]> = [
      ['mailbox.list', {}],
      ['message.list', { mailbox: 'INBOX' }],
      ['message.search', { mailbox: 'INBOX', query: { text: 'x' } }],
      ['message.move', { mailbox: 'INBOX', uids: [1], to: 'Archive' }],
      ['message.delete', { mailbox: 'INBOX', uids: [1] }],
      ['message.get', { mailbox: 'Trash', uid: 1 }],
      ['message.flag', { mailbox: 'Trash', uid: 1, add: ['\\Seen'] }],
    ];
    for (const [command, body] of requests) {
      for (const id of [accountId, 'no-such-account']) {
        expect([command, await call(socket, command as 'message.list', { accountId: id, ...body })]).toEqual([command, { ok: false, error: { code: 'forbidden', message: expect.any(String) } }]);
      }
    }
    expect(await serverUids('INBOX')).toContain(1);
  });

  it('the same commands over HTTP with the client token: list, search, move, delete, 403 and 400 naming the field', async () => {
    const token = await tokenFor('u1');
    const http = async (method: string, path: string, body?: object, as = token) => {
      const res = await fetch(`${url}/api/me/accounts/${path}`, {
        method,
        headers: { authorization: `Bearer ${as}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const boxes = await http('GET', `${accountId}/mailboxes`);
    expect(boxes.status).toBe(200);
    expect(boxes.body.mailboxes).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'INBOX', specialUse: '\\Inbox', watched: true })]));

    const page = await http('GET', `${accountId}/mailboxes/INBOX/messages?limit=2&before=50`);
    expect(page).toMatchObject({ status: 200, body: { nextBefore: 48, messages: [{ uid: 49 }, { uid: 48 }] } });
    const found = await http('GET', `${accountId}/mailboxes/INBOX/search?text=zanzibar&unseen=false`);
    expect(found).toMatchObject({ status: 200, body: { total: 1, messages: [{ uid: 7 }] } });

    // A nested folder: the path is URL-encoded into one segment.
    const client = await dovecot.imap(USER);
    await client.mailboxCreate(['Archive', '2024']);
    await client.logout();
    const moved = await http('POST', `${accountId}/mailboxes/INBOX/messages/move`, { uids: [50], to: 'Archive/2024' });
    expect(moved).toMatchObject({ status: 200, body: { moved: [{ uid: 50, newUid: 1 }] } });
    expect(await http('GET', `${accountId}/mailboxes/${encodeURIComponent('Archive/2024')}/messages`)).toMatchObject({ status: 200, body: { total: 1, messages: [{ uid: 1, subject: 'history 50' }] } });
    expect(await http('POST', `${accountId}/mailboxes/${encodeURIComponent('Archive/2024')}/messages/delete`, { uids: [1], permanent: true })).toMatchObject({ status: 200 });
    expect(await serverUids('Archive/2024')).toEqual([]);

    const other = await tokenFor('u2');
    expect((await http('GET', `${accountId}/mailboxes`, undefined, other)).status).toBe(403);
    expect((await http('GET', `${accountId}/mailboxes/INBOX/messages`, undefined, other)).status).toBe(403);
    expect((await http('GET', `${accountId}/mailboxes/INBOX/search?text=x`, undefined, other)).status).toBe(403);
    expect((await http('POST', `${accountId}/mailboxes/INBOX/messages/move`, { uids: [1], to: 'Archive' }, other)).status).toBe(403);
    expect((await http('POST', `${accountId}/mailboxes/INBOX/messages/delete`, { uids: [1] }, other)).status).toBe(403);
    expect(await http('GET', `${accountId}/mailboxes/INBOX/messages?limit=500`)).toMatchObject({ status: 400, body: { field: 'limit' } });
    expect(await http('GET', `${accountId}/mailboxes/INBOX/search?since=yesterday`)).toMatchObject({ status: 400, body: { field: 'query.since' } });
    expect(await http('GET', `${accountId}/mailboxes/INBOX/search`)).toMatchObject({ status: 400, body: { field: 'query' } });
    expect(await http('POST', `${accountId}/mailboxes/INBOX/messages/move`, { uids: ['1'], to: 'Archive' })).toMatchObject({ status: 400, body: { field: 'uids.0' } });
    expect(await http('POST', `${accountId}/mailboxes/INBOX/messages/delete`, {})).toMatchObject({ status: 400, body: { field: 'uids' } });
    expect(await http('GET', `${accountId}/mailboxes/Nope/messages`)).toMatchObject({ status: 404 });
  });

  it('the typed client: mailboxes, listMessages, search, move and deleteMessages', async () => {
    const client = new PushmailClient({ url, token: await tokenFor('u1'), socketOptions: { transports: ['websocket'] } });
    try {
      await client.connect();
      expect((await client.mailboxes({ accountId })).find((m) => m.specialUse === '\\Trash')?.path).toBe('Trash');
      const page = await client.listMessages({ accountId, mailbox: 'INBOX', before: 40, limit: 3 });
      expect(page).toMatchObject({ nextBefore: 37, messages: [{ uid: 39 }, { uid: 38 }, { uid: 37 }] });
      expect((await client.search({ accountId, mailbox: 'INBOX', query: { text: 'zanzibar' } })).messages.map((m) => m.uid)).toEqual([7]);
      const [moved] = await client.move({ accountId, mailbox: 'INBOX', uids: [39], to: 'Archive' });
      expect(moved).toEqual({ uid: 39, newUid: expect.any(Number) });
      await client.deleteMessages({ accountId, mailbox: 'Archive', uids: [moved!.newUid!], permanent: true });
      expect(await serverUids('Archive')).not.toContain(moved!.newUid);
      await expect(client.listMessages({ accountId, mailbox: 'INBOX', limit: 0 })).rejects.toMatchObject({ code: 'bad_request' });
    } finally {
      client.close();
    }
  });

  it('refuses invalid payloads with bad_request naming the field', async () => {
    const socket = await open();
    const cases: Array<[string, object, string]> = [
      ['mailbox.list', { accountId: 'bad id!' }, 'accountId'],
      ['mailbox.list', { accountId, extra: 1 }, '(body): Unrecognized key(s) in object: \'extra\''],
      ['message.list', { accountId, mailbox: 'INBOX', limit: 201 }, 'limit'],
      ['message.list', { accountId, mailbox: 'INBOX', before: 0 }, 'before'],
      ['message.list', { accountId, mailbox: '' }, 'mailbox'],
      ['message.search', { accountId, mailbox: 'INBOX', query: {} }, 'query'],
      ['message.search', { accountId, mailbox: 'INBOX', query: { since: '2024-13-01' } }, 'query.since'],
      ['message.search', { accountId, mailbox: 'INBOX', query: { text: 'a\r\nb' } }, 'query.text'],
      ['message.move', { accountId, mailbox: 'INBOX', uids: [], to: 'Archive' }, 'uids'],
      ['message.move', { accountId, mailbox: 'INBOX', uids: Array.from({ length: 501 }, (_, i) => i + 1), to: 'Archive' }, 'uids'],
      ['message.move', { accountId, mailbox: 'INBOX', uids: [1] }, 'to'],
      ['message.delete', { accountId, mailbox: 'INBOX', uids: [-1] }, 'uids.0'],
      ['message.delete', { accountId, mailbox: 'INBOX', uids: [1], permanent: 'yes' }, 'permanent'],
    ];
    for (const [command, body, field] of cases) {
      const ack = await call(socket, command as 'message.list', body);
      expect([command, ack]).toEqual([command, { ok: false, error: { code: 'bad_request', message: expect.stringMatching(new RegExp(`^${field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(:|$)`)) } }]);
    }
  });
  it('serves the first page of INBOX from the cache until the account logs a change, and drops it when a command changes mail', async () => {
    const socket = await open();
    const events = record(socket);
    okAck(await call(socket, 'subscribe', { accountId }));
    const pages = redisKeys.firstPages(accountId);
    const list = async () => okAck(await call(socket, 'message.list', { accountId, mailbox: 'INBOX', limit: 10 }));
    // The fetcher stores a page just after its answer, unless an event was logged between the
    // gateway's lookup and that answer (the earlier tests' moves log theirs up to a second after
    // their acks): then the page is rightly not stored, and the list is asked again.
    const listCached = async () => {
      for (let attempt = 1; ; attempt++) {
        const page = await list();
        try {
          await waitFor(async () => (await stores.redis.client.hexists(pages, 'INBOX\n10')) === 1, 1_000, 'the page to be cached');
          return page;
        } catch (err) {
          if (attempt === 10) throw err;
        }
      }
    };
    const newestEventId = async () => (await stores.redis.client.xrevrange(redisKeys.eventLog(accountId), '+', '-', 'COUNT', 1))[0]?.[0] ?? '0';
    // A late event also makes a stored page stale: a miss is retried only when one explains it (the
    // log moved past the page's token), so a cache that never serves still fails.
    let fromCache = '';
    for (let attempt = 0; attempt < 5 && fromCache !== 'from the cache'; attempt++) {
      const fromServer = await listCached();
      // Marked in Redis, so that an answer from the cache is told from one from the server.
      const stored = (await stores.redis.client.hget(pages, 'INBOX\n10'))!;
      await stores.redis.client.hset(pages, 'INBOX\n10', stored.replace(`"subject":${JSON.stringify(fromServer.messages[0].subject)}`, '"subject":"from the cache"'));
      fromCache = (await list()).messages[0].subject;
      if (fromCache !== 'from the cache') expect(await newestEventId()).not.toBe(stored.slice(0, stored.indexOf('\n')));
    }
    expect(fromCache).toBe('from the cache');
    // An unknown user still gets forbidden, cached page or not.
    const stranger = await open('u2');
    expect(await call(stranger, 'message.list', { accountId, mailbox: 'INBOX', limit: 10 })).toMatchObject({ ok: false, error: { code: 'forbidden' } });

    // A delivery: once its message.new is logged, the list asks the server again.
    await dovecot.deliver(USER, { subject: 'after the cache', messageId: '<after-cache@example.test>' });
    await waitFor(() => events.some((e) => e.name === 'message.new' && e.payload.subject === 'after the cache'), 15_000, 'message.new of the delivery');
    const afterDelivery = await listCached();
    expect(afterDelivery.messages[0]).toMatchObject({ subject: 'after the cache', flags: [] });
    const newest = afterDelivery.messages[0].uid;

    // A flag set by another client: once its message.flags is logged, the list shows it.
    const other = await dovecot.imap(USER);
    await other.mailboxOpen('INBOX');
    await other.messageFlagsAdd(String(newest), ['\\Flagged'], { uid: true });
    await other.logout();
    await waitFor(() => events.some((e) => e.name === 'message.flags' && e.payload.uid === newest), 15_000, 'message.flags from the other client');
    expect((await listCached()).messages[0].flags).toContain('\\Flagged');

    // pushmail's own commands: a list right after the ack shows the change, before any event.
    okAck(await call(socket, 'message.flag', { accountId, mailbox: 'INBOX', uid: newest, add: ['\\Seen'] }));
    expect((await listCached()).messages[0].flags).toContain('\\Seen');
    okAck(await call(socket, 'message.delete', { accountId, mailbox: 'INBOX', uids: [newest] }));
    expect((await list()).messages.map((m) => m.uid)).not.toContain(newest);
  });
});
