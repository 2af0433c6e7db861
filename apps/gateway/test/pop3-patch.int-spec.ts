import { INestApplication } from '@nestjs/common';
import { AccountView } from '@pushmail/contracts';
import { Pop3UidStore } from '@pushmail/pop3';
import { AppProcess, TestDovecot, TestRedis, testEnv, testStores, waitFor } from '@pushmail/testing';
import { ADMIN_TOKEN, startGateway } from './helpers';

/**
 * Issue 18: PATCH /api/accounts/:id with `pop3` and `pollIntervalSeconds`, as IMAP settings are
 * patched: 400 naming the field for what does not fit (a bad field, a host the server may not
 * connect to, imap on a POP3 account and the reverse, an interval under POP3_MIN_POLL_SECONDS),
 * and the watcher (the built app) picks the change up: a wrong password fixed by PATCH goes from
 * auth_failed to connected, and the new interval is the one it polls at.
 */
jest.setTimeout(90_000);

const USER = 'pop-patch@example.test';
const PASS = 'pop-patch-pass';

describe('PATCH of a POP3 account', () => {
  let redis: TestRedis;
  let dovecot: TestDovecot;
  let stores: ReturnType<typeof testStores>;
  let app: INestApplication;
  let url: string;
  let watcher: AppProcess;
  let pop3Id: string;
  let imapId: string;
  const admin = (method: string, path: string, body?: unknown) =>
    fetch(url + path, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const refusal = async (res: Response) => ({ status: res.status, ...((await res.json()) as { field?: string; message?: string }) });
  const state = async (id: string) => (await stores.accounts.getState(id))?.state;

  beforeAll(async () => {
    [redis, dovecot] = await Promise.all([TestRedis.start(), TestDovecot.start({ users: { [USER]: PASS } })]);
    stores = testStores(redis.url);
    ({ app, url } = await startGateway(redis.url, { POP3_MIN_POLL_SECONDS: '2' }));
    const pop3 = dovecot.pop3Settings(USER, 'wrong-password');
    const created = await admin('POST', '/api/accounts', { userId: 'u-patch', email: USER, pop3, smtp: { ...pop3, port: 2525 }, pollIntervalSeconds: 60 });
    expect(created.status).toBe(201);
    pop3Id = ((await created.json()) as AccountView).id;
    const imap = dovecot.imapSettings(USER);
    const other = await admin('POST', '/api/accounts', { userId: 'u-patch', email: USER, imap, smtp: { ...imap, port: 2525 } });
    expect(other.status).toBe(201);
    imapId = ((await other.json()) as AccountView).id;
    watcher = await AppProcess.start('watcher', { ...testEnv(redis.url), RECONCILE_INTERVAL_MS: '500', WATCHER_TICK_MS: '100' });
    await waitFor(async () => (await state(pop3Id)) === 'auth_failed', 30_000, 'auth_failed with the wrong password', 100);
  });
  afterAll(async () => {
    await watcher?.stop();
    await app?.close();
    await stores?.close();
    await dovecot?.dispose();
    await redis?.dispose();
  });

  it('400 naming the field for what does not fit the account; 404 for no account', async () => {
    const pop3 = dovecot.pop3Settings(USER);
    const imap = dovecot.imapSettings(USER);
    expect(await refusal(await admin('PATCH', `/api/accounts/${pop3Id}`, { imap }))).toMatchObject({ status: 400, field: 'imap' });
    expect(await refusal(await admin('PATCH', `/api/accounts/${pop3Id}`, { mailboxes: ['INBOX', 'Archive'] }))).toMatchObject({ status: 400, field: 'mailboxes' });
    expect(await refusal(await admin('PATCH', `/api/accounts/${pop3Id}`, { pollIntervalSeconds: 1 }))).toMatchObject({ status: 400, field: 'pollIntervalSeconds' });
    expect(await refusal(await admin('PATCH', `/api/accounts/${pop3Id}`, { pollIntervalSeconds: 3601 }))).toMatchObject({ status: 400, field: 'pollIntervalSeconds' });
    const { pass: _pass, ...withoutPass } = pop3;
    expect(await refusal(await admin('PATCH', `/api/accounts/${pop3Id}`, { pop3: withoutPass }))).toMatchObject({ status: 400, field: 'pop3.pass' });
    expect(await refusal(await admin('PATCH', `/api/accounts/${pop3Id}`, { pop3: { ...pop3, deleteAfterDays: 0 } }))).toMatchObject({ status: 400, field: 'pop3.deleteAfterDays' });
    expect(await refusal(await admin('PATCH', `/api/accounts/${pop3Id}`, { pop3: { ...pop3, host: 'no-such-host.invalid' } }))).toMatchObject({ status: 400, field: 'pop3.host' });
    expect(await refusal(await admin('PATCH', `/api/accounts/${pop3Id}`, { pop3, imap }))).toMatchObject({ status: 400, field: 'pop3' });
    expect(await refusal(await admin('PATCH', `/api/accounts/${imapId}`, { pop3 }))).toMatchObject({ status: 400, field: 'pop3' });
    expect(await refusal(await admin('PATCH', `/api/accounts/${imapId}`, { pollIntervalSeconds: 30 }))).toMatchObject({ status: 400, field: 'pollIntervalSeconds' });
    expect((await admin('PATCH', '/api/accounts/acc_doesnotexist000000', { pollIntervalSeconds: 30 })).status).toBe(404);
    // Nothing refused was stored.
    const stored = await stores.accounts.get(pop3Id);
    expect(stored).toMatchObject({ protocol: 'pop3', pollIntervalSeconds: 60, pop3: { pass: 'wrong-password' } });
    expect(await state(pop3Id)).toBe('auth_failed');
  });

  it('the right password and a 2 s interval: the watcher polls with them (connected, then new mail mapped within the interval plus 2 s)', async () => {
    const res = await admin('PATCH', `/api/accounts/${pop3Id}`, { pop3: { ...dovecot.pop3Settings(USER), deleteAfterDays: 30 }, pollIntervalSeconds: 2 });
    expect(res.status).toBe(200);
    expect((await res.json()) as AccountView).toMatchObject({ protocol: 'pop3', delivery: 'poll', pollIntervalSeconds: 2 });
    expect(await stores.accounts.get(pop3Id)).toMatchObject({ pollIntervalSeconds: 2, pop3: { pass: PASS, deleteAfterDays: 30 } });
    await waitFor(async () => (await state(pop3Id)) === 'connected', 20_000, 'connected after the PATCH', 100);

    const uids = new Pop3UidStore(stores.redis);
    const before = (await uids.list(pop3Id)).uids.length;
    const deliveredAt = Date.now();
    await dovecot.deliver(USER, { subject: 'after the patch' });
    await waitFor(async () => (await uids.list(pop3Id)).uids.length > before, 10_000, 'the new message mapped', 50);
    expect(Date.now() - deliveredAt).toBeLessThanOrEqual(2000 + 2000);
  });
});
