import { parseMail } from '@pushmail/mail-parse';
import { FALLBACK_HEADER_BYTES, addresses, decodeWords, headerOnlyContent } from './header-fallback';

const HEADERS = [
  'Received: from mx.example.test by mail.example.test',
  'From: "Doe, Jane" <jane@example.test>',
  'To: Team: alice@example.test, =?ISO-8859-1?Q?Andr=E9?= <andre@example.test>;,',
  '  bob@example.test (Bob in a comment)',
  'Cc: =?UTF-8?B?5pel5pys6Kqe?= <nihongo@example.test>',
  'Subject: =?UTF-8?Q?Caf=C3=A9_?=',
  ' =?UTF-8?Q?cr=C3=A8me?= and more',
  'Date: Mon, 30 Nov 2026 08:15:00 -0500',
  'Message-ID: <m1@example.test>',
  'In-Reply-To: <parent@example.test>',
  'References: <root@example.test> <parent@example.test>',
  'Content-Type: text/plain; charset=utf-8',
];
const mail = (...extra: string[]) => Buffer.from([...HEADERS, ...extra, '', 'Body: not a header', ''].join('\r\n'));

describe('headerOnlyContent (what a timed-out message is delivered with)', () => {
  it('agrees with the full parser on the headers of ordinary mail', async () => {
    const full = await parseMail(mail());
    const fallback = headerOnlyContent(mail());
    for (const key of ['subject', 'from', 'to', 'cc', 'date', 'messageId', 'inReplyTo', 'references'] as const) expect({ [key]: fallback[key] }).toEqual({ [key]: full[key] });
    expect(fallback).toMatchObject({ text: '', html: null, preview: '', attachments: [], parseWarnings: ['parse_timeout'] });
  });

  it('reads only the header block, and at most FALLBACK_HEADER_BYTES of it', () => {
    expect(headerOnlyContent(Buffer.from('Subject: s\n\nSubject: not this\n')).subject).toBe('s');
    const huge = Buffer.from(`X-Filler: ${'x'.repeat(FALLBACK_HEADER_BYTES)}\r\nSubject: too far\r\n\r\nbody`);
    expect(headerOnlyContent(huge).subject).toBe('');
    expect(headerOnlyContent(Buffer.alloc(0))).toMatchObject({ subject: '', from: null, to: [], messageId: null, date: null });
  });

  it('decodes encoded words, joining adjacent ones of one charset (a character may be split)', () => {
    // "日本" in UTF-8 is e6 97 a5 e6 9c ac; the split falls inside the second character.
    expect(decodeWords('=?utf-8?Q?=E6=97=A5=E6?= =?utf-8?Q?=9C=AC?= x')).toBe('日本 x');
    expect(decodeWords('a =?iso-8859-1?q?=E9t=E9?= b')).toBe('a été b');
    expect(decodeWords('=?utf-8*en?B?w6k=?=')).toBe('é');
    expect(decodeWords('=?bogus')).toBe('=?bogus');
  });

  it('parses address lists: quotes, comments, groups', () => {
    expect(addresses('"a, b" <x@y.test>, (c, d) z@y.test, undisclosed-recipients:;')).toEqual([
      { name: 'a, b', address: 'x@y.test' },
      { name: 'c, d', address: 'z@y.test' },
    ]);
    expect(addresses('Only A Name')).toEqual([{ name: 'Only A Name', address: '' }]);
  });

  it('stays fast on hostile header blocks (a single pass over at most 64 KB)', () => {
    const n = FALLBACK_HEADER_BYTES;
    const hostile = [
      `From: ${'('.repeat(n)}`,
      `To: ${'"'.repeat(n)}`,
      `To: ${'<'.repeat(n)}`,
      `Subject: ${'=?utf-8?q?'.repeat(n / 10)}`,
      `Subject: ${'=?a?q?'.repeat(n / 6)}`,
      `References: ${'<a'.repeat(n / 2)}`,
      `Cc: ${'a,'.repeat(n / 2)}`,
      `Subject: x\r\n${' folded'.repeat(n / 7)}`,
    ];
    for (const header of hostile) {
      const start = performance.now();
      headerOnlyContent(Buffer.from(`${header}\r\n\r\nbody`));
      expect(performance.now() - start).toBeLessThan(250);
    }
  });
});
