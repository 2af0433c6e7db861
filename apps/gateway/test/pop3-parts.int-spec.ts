import { INestApplication } from '@nestjs/common';
import { AccountView, redisKeys } from '@pushmail/contracts';
import { PasswordCredentials } from '@pushmail/credentials';
import { MailHostPolicy, MailNetworkSettings } from '@pushmail/net-policy';
import { Pop3ClientFactory, Pop3UidStore } from '@pushmail/pop3';
import { TestDovecot, TestRedis, testStores } from '@pushmail/testing';
import { startGateway, tokenFor } from './helpers';

/**
 * Issue 18: attachments of POP3 mail through GET /api/accounts/:id/messages/INBOX/:uid/parts/:part,
 * on real Dovecot POP3. POP3 cannot fetch one part: the gateway cuts it out of the raw copy the
 * fetcher kept in Redis, else out of the whole message downloaded again with RETR; a message
 * above POP3_PART_RETR_MAX_BYTES is refused rather than held in memory.
 */
jest.setTimeout(60_000);

const USER = 'pop-parts@example.test';
const PASS = 'pop-parts-pass';
const LEASE = 'test-lease';
const RETR_MAX = 16 * 1024;

const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from(Array.from({ length: 3000 }, (_v, i) => (i * 7) % 256))]);
const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);

function withAttachments(subject: string, attachment = pdf): Buffer {
  const b64 = (b: Buffer) => b.toString('base64').replace(/.{1,76}/g, '$&\r\n').trimEnd();
  return Buffer.from(
    [
      'From: sender@example.test',
      `To: ${USER}`,
      `Subject: ${subject}`,
      `Message-ID: <${subject.replace(/\W/g, '')}@example.test>`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary=outer',
      '',
      '--outer',
      'Content-Type: multipart/related; boundary=inner',
      '',
      '--inner',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>see the logo <img src="cid:logo@x"></p>',
      '--inner',
      'Content-Type: image/png',
      'Content-ID: <logo@x>',
      'Content-Transfer-Encoding: base64',
      '',
      b64(png),
      '--inner--',
      '--outer',
      'Content-Type: application/pdf; name="report.pdf"',
      'Content-Disposition: attachment; filename="report.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      b64(attachment),
      '--outer--',
      '',
    ].join('\r\n'),
  );
}

describe('POP3 attachments through the gateway', () => {
  let redis: TestRedis;
  let dovecot: TestDovecot;
  let stores: ReturnType<typeof testStores>;
  let app: INestApplication;
  let url: string;
  let uids: Pop3UidStore;
  let accountId: string;
  const factory = new Pop3ClientFactory(new MailNetworkSettings(new MailHostPolicy({ allowPrivate: true, allowlist: [] }), true), new PasswordCredentials());
  const get = async (path: string, user = 'u-pop-parts') => fetch(url + path, { headers: { authorization: `Bearer ${await tokenFor(user)}` } });
  const part = (uid: number, partId: string, mailbox = 'INBOX') => `/api/accounts/${accountId}/messages/${mailbox}/${uid}/parts/${partId}`;

  /** What the watcher's poller does (UIDL, plan, commit), under a lease the test holds. */
  async function poll(): Promise<{ uidValidity: number; newUids: number[]; goneUids: number[] }> {
    const client = await factory.connect(dovecot.pop3Settings(USER));
    const listing = await client.uidl();
    await client.quit();
    const plan = await uids.plan(accountId, LEASE, listing.map((e) => e.uid));
    await uids.commit(accountId, LEASE, plan);
    return plan;
  }

  beforeAll(async () => {
    [redis, dovecot] = await Promise.all([TestRedis.start(), TestDovecot.start({ users: { [USER]: PASS } })]);
    stores = testStores(redis.url);
    uids = new Pop3UidStore(stores.redis);
    ({ app, url } = await startGateway(redis.url, { POP3_PART_RETR_MAX_BYTES: String(RETR_MAX) }));
    const pop3 = dovecot.pop3Settings(USER);
    const res = await fetch(`${url}/api/me/accounts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await tokenFor('u-pop-parts')}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email: USER, pop3, smtp: { ...pop3, port: 2525 }, pollIntervalSeconds: 60 }),
    });
    expect(res.status).toBe(201);
    accountId = ((await res.json()) as AccountView).id;
    // The test is the watcher: no watcher process runs, so the lease is ours.
    await stores.redis.client.set(redisKeys.lease(accountId), LEASE);
    await dovecot.deliver(USER, withAttachments('first'));
    await dovecot.deliver(USER, withAttachments('second'));
    await dovecot.deliver(USER, withAttachments('too large', Buffer.alloc(RETR_MAX, 0x41)));
    expect((await poll()).uidValidity).toBeGreaterThan(0);
  });
  afterAll(async () => {
    await app?.close();
    await stores?.close();
    await dovecot?.dispose();
    await redis?.dispose();
  });

  it('serves a part of a message not kept in Redis by downloading it again (RETR), decoded, with its name', async () => {
    expect(await uids.rawOf(accountId, (await uids.uidValidity(accountId))!, 1)).toBeNull();
    const res = await get(part(1, '2'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/pdf');
    expect(res.headers.get('content-disposition')).toContain('filename="report.pdf"');
    expect(res.headers.get('cache-control')).toBe('private, no-store');
    expect(Buffer.from(await res.arrayBuffer()).equals(pdf)).toBe(true);
    const inline = await get(part(1, '1.2'));
    expect(inline.status).toBe(200);
    expect(Buffer.from(await inline.arrayBuffer()).equals(png)).toBe(true);
  });

  it('serves from the raw copy the fetcher kept: still there after another client deleted the message, until the next poll', async () => {
    const uidValidity = (await uids.uidValidity(accountId))!;
    await uids.keepRaw(accountId, uidValidity, 2, withAttachments('second'), 60);
    // Another client deletes message 2 (DELE, committed by QUIT): RETR could no longer read it.
    const other = await factory.connect(dovecot.pop3Settings(USER));
    const entry = (await other.uidl())[1];
    await other.dele(entry.msg);
    await other.quit();

    const res = await get(part(2, '2'));
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(pdf)).toBe(true);

    // The next poll reports it gone: its parts are gone with it, kept copy or not.
    expect((await poll()).goneUids).toEqual([2]);
    expect((await get(part(2, '2'))).status).toBe(404);
  });

  it('404 for a part or message that does not exist, another folder, or another user; never a login for those', async () => {
    expect((await get(part(1, '7'))).status).toBe(404);
    expect((await get(part(1, '1'))).status).toBe(404);
    expect((await get(part(99, '2'))).status).toBe(404);
    expect((await get(part(1, '2', 'Archive'))).status).toBe(404);
    expect((await get(part(1, '2'), 'someone-else')).status).toBe(404);
  });

  it(`refuses a message above POP3_PART_RETR_MAX_BYTES (${RETR_MAX}) with a 502 saying why, rather than holding it`, async () => {
    const res = await get(part(3, '2'));
    expect(res.status).toBe(502);
    expect(JSON.stringify(await res.json())).toContain('POP3 cannot fetch a single part');
  });
});
