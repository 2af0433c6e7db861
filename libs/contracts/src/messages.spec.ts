import { MAX_LOG_SUMMARY_BYTES, MessageLogSummarySchema, ParsedMessage, toMessageLogSummary } from './messages';

const message = (overrides: Partial<ParsedMessage> = {}): ParsedMessage => ({
  accountId: 'acc_1',
  mailbox: 'INBOX',
  uid: 42,
  uidValidity: 7,
  messageId: '<m42@example.test>',
  inReplyTo: '<m41@example.test>',
  references: ['<m40@example.test>', '<m41@example.test>'],
  subject: 'Lunch?',
  from: { name: 'Ann', address: 'ann@example.test' },
  to: [{ name: 'Bob', address: 'bob@example.test' }],
  cc: [],
  date: '2026-01-01T12:00:00.000Z',
  receivedAt: '2026-01-01T12:00:01.000Z',
  flags: ['\\Seen'],
  size: 470,
  preview: 'Shall we meet at noon?',
  text: 'Shall we meet at noon?',
  html: '<p>Shall we meet at noon?</p>',
  attachments: [{ partId: '2', filename: 'menu.pdf', contentType: 'application/pdf', size: 1234, inline: false }],
  parseWarnings: ['8-bit header bytes'],
  ...overrides,
});

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

describe('toMessageLogSummary', () => {
  it('keeps everything but the bodies of ordinary mail, untruncated', () => {
    const { text: _t, html: _h, parseWarnings: _w, ...rest } = message();
    const summary = toMessageLogSummary(message());
    expect(summary).toEqual(rest);
    expect(MessageLogSummarySchema.parse(summary)).toEqual(summary);
  });

  const hostile: Array<[string, Partial<ParsedMessage>]> = [
    ['a 10 KB subject', { subject: 'S'.repeat(10_000) }],
    ['a multibyte subject and preview', { subject: '😀'.repeat(3000), preview: 'ü'.repeat(3000) }],
    ['500 recipients', { to: Array.from({ length: 500 }, (_, i) => ({ name: `Recipient ${i}`, address: `r${i}@example.test` })), cc: Array.from({ length: 500 }, (_, i) => ({ name: '', address: `c${i}@example.test` })) }],
    ['200 attachments with long names', { attachments: Array.from({ length: 200 }, (_, i) => ({ partId: `${i + 2}`, filename: `${'report-'.repeat(40)}${i}.pdf`, contentType: 'application/pdf', size: i, inline: false, contentId: `<cid${i}@x>` })) }],
    ['300 references and long ids', { references: Array.from({ length: 300 }, (_, i) => `<${'r'.repeat(200)}${i}@example.test>`), messageId: `<${'m'.repeat(5000)}>`, inReplyTo: `<${'i'.repeat(5000)}>` }],
    ['100 keywords', { flags: Array.from({ length: 100 }, (_, i) => `$Keyword${'x'.repeat(100)}${i}`) }],
    ['quotes and control characters everywhere (escaped in JSON)', { subject: '"\u0001'.repeat(2000), preview: '\\\u0002'.repeat(2000), from: { name: '\u0003'.repeat(3000), address: '"'.repeat(3000) } }],
    ['a mailbox name at its 512-character limit', { mailbox: 'Ordner/'.repeat(73), subject: 'x'.repeat(4000) }],
  ];

  it.each(hostile)('stays within %s', (_name, overrides) => {
    const whole = message(overrides);
    const summary = toMessageLogSummary(whole);
    expect(bytes(summary)).toBeLessThanOrEqual(MAX_LOG_SUMMARY_BYTES);
    expect(summary.truncated).toBe(true);
    // The reference is never cut: it names the stored body and the message on the server.
    expect({ accountId: summary.accountId, mailbox: summary.mailbox, uidValidity: summary.uidValidity, uid: summary.uid }).toEqual({
      accountId: whole.accountId,
      mailbox: whole.mailbox,
      uidValidity: whole.uidValidity,
      uid: whole.uid,
    });
    expect(MessageLogSummarySchema.safeParse(summary).success).toBe(true);
    expect(summary).not.toHaveProperty('text');
    expect(summary).not.toHaveProperty('html');
  });

  it('cuts what it must and no more: a long subject leaves the recipients whole', () => {
    const summary = toMessageLogSummary(message({ subject: 'S'.repeat(10_000) }));
    expect(summary.subject).toBe('S'.repeat(200));
    expect(summary.to).toEqual(message().to);
    expect(summary.attachments).toEqual(message().attachments);
  });

  it('never splits a surrogate pair', () => {
    const summary = toMessageLogSummary(message({ subject: `a${'😀'.repeat(3000)}` }));
    expect(summary.subject).not.toMatch(/[\ud800-\udbff]$/);
    expect(Buffer.from(summary.subject).toString()).toBe(summary.subject);
  });
});
