import { BodyStructureNode, CorpusExpectation, corpusMismatches, findScriptCapableMarkup, leavesFromBodyStructure } from '@pushmail/mail-parse';
import { ParsedMessage, partPath, redisKeys } from '@pushmail/contracts';
import { REPO_ROOT } from '@pushmail/testing';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FetcherWorld, USER, startFetcherWorld } from './support';

const dir = join(REPO_ROOT, 'libs/mail-parse/test/corpus');
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.eml'))
  .map((f) => f.slice(0, -4))
  .sort();

describe('fetcher on the corpus (LMTP → Dovecot → fetch job → stored payload)', () => {
  let world: FetcherWorld;
  let uidValidity: number;
  const stored = new Map<string, ParsedMessage>();

  beforeAll(async () => {
    world = await startFetcherWorld();
    // Delivered in order, so the n-th message gets UID n.
    for (const name of names) await world.dovecot.deliver(USER, readFileSync(join(dir, `${name}.eml`)));
    uidValidity = await world.uidValidity();
    const jobs = await Promise.all(
      names.map((_name, i) => world.fetchJob({ accountId: world.accountId, mailbox: 'INBOX', uidValidity, uid: i + 1, seenAt: Date.now() })),
    );
    const results = await Promise.all(jobs.map((job) => job.waitUntilFinished(world.mailboxEvents, 30_000)));
    expect(results.every((r: { outcome: string }) => r.outcome === 'appended')).toBe(true);
    for (const [i, name] of names.entries()) {
      const json = await world.client.get(redisKeys.message(world.accountId, 'INBOX', uidValidity, i + 1));
      if (json) stored.set(name, JSON.parse(json) as ParsedMessage);
    }
  });
  afterAll(() => world?.close());

  it('stored every corpus message with an event in the log', async () => {
    expect(stored.size).toBe(names.length);
    expect(await world.client.xlen(redisKeys.eventLog(world.accountId))).toBe(names.length);
  });

  it.each(names)('%s: stored payload matches its expected fields', (name) => {
    const message = stored.get(name)!;
    const expected = JSON.parse(readFileSync(join(dir, `${name}.expected.json`), 'utf8')) as CorpusExpectation;
    const partUrl = (partId: string) => partPath(world.accountId, 'INBOX', message.uid, partId);
    expect(corpusMismatches(message, expected, partUrl)).toEqual([]);
    expect(message).toMatchObject({ accountId: world.accountId, mailbox: 'INBOX', uidValidity, eventId: expect.stringMatching(/^\d+-\d+$/) });
    expect(Date.parse(message.receivedAt)).not.toBeNaN();
    expect(message.size).toBeGreaterThan(0);
  });

  it('leaves no script-capable markup in any delivered html, XSS sets included', () => {
    const xss = [...stored.entries()].filter(([name]) => name.startsWith('xss-'));
    expect(xss.length).toBeGreaterThanOrEqual(3);
    for (const [, message] of stored) if (message.html) expect(findScriptCapableMarkup(message.html)).toEqual([]);
  });

  it('gives attachments the part numbers Dovecot serves them under', async () => {
    const imap = await world.dovecot.imap(USER);
    try {
      await imap.mailboxOpen('INBOX');
      let checked = 0;
      for (const message of stored.values()) {
        for (const attachment of message.attachments) {
          const part = await imap.download(String(message.uid), attachment.partId, { uid: true });
          expect(part.meta?.contentType?.toLowerCase()).toBe(attachment.contentType);
          part.content?.resume();
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(15);
    } finally {
      await imap.logout();
    }
  });

  it("numbers every attachment as the server's BODYSTRUCTURE does, asking the server for it only for defective mail", async () => {
    const imap = await world.dovecot.imap(USER);
    let withAttachments = 0;
    try {
      await imap.mailboxOpen('INBOX', { readOnly: true });
      for (const message of stored.values()) {
        if (!message.attachments.length) continue;
        withAttachments++;
        const row = await imap.fetchOne(String(message.uid), { uid: true, bodyStructure: true }, { uid: true });
        const leaves = leavesFromBodyStructure((row as { bodyStructure: BodyStructureNode }).bodyStructure);
        for (const attachment of message.attachments) {
          expect({ uid: message.uid, partId: attachment.partId, type: leaves.find((l) => l.partId === attachment.partId)?.contentType }).toEqual({
            uid: message.uid,
            partId: attachment.partId,
            type: attachment.contentType,
          });
        }
      }
    } finally {
      await imap.logout();
    }
    const metrics = await (await fetch(`${await world.app.getUrl()}/metrics`.replace('[::1]', '127.0.0.1'))).text();
    const structureFetches = Number(/^pushmail_fetch_structure_fetches_total (\d+)/m.exec(metrics)?.[1]);
    expect(structureFetches).toBeGreaterThan(0);
    expect(structureFetches).toBeLessThan(withAttachments / 2);
  });

  it('does not set \\Seen on the server', async () => {
    const imap = await world.dovecot.imap(USER);
    try {
      await imap.mailboxOpen('INBOX', { readOnly: true });
      const rows = await imap.fetchAll('1:*', { uid: true, flags: true });
      expect(rows).toHaveLength(names.length);
      for (const row of rows) expect([...(row.flags ?? [])]).not.toContain('\\Seen');
    } finally {
      await imap.logout();
    }
    for (const message of stored.values()) expect(message.flags).not.toContain('\\Seen');
  });
});
