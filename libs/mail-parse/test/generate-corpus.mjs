// Writes the parser corpus: <name>.eml plus <name>.expected.json. The expected values are written
// here by hand next to each message (never produced by the parser), so the corpus tests the parser.
// Run: node libs/mail-parse/test/generate-corpus.mjs   (needs iconv-lite and encoding-japanese, both
// in node_modules through mailparser).
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const iconv = require('iconv-lite');
const Encoding = require('encoding-japanese');

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'corpus');
const vectors = JSON.parse(readFileSync(join(here, 'xss-vectors.json'), 'utf8'));

const DATE = 'Mon, 02 Feb 2026 10:00:00 +0100';
const DATE_ISO = '2026-02-02T09:00:00.000Z';
const FROM = { name: 'Alice Sender', address: 'alice@example.test' };
const TO = { name: 'Bob Reader', address: 'bob@example.test' };

const enc = (text, charset) => (charset.toLowerCase() === 'iso-2022-jp' ? Buffer.from(Encoding.convert(Encoding.stringToCode(text), { to: 'JIS', from: 'UNICODE' })) : iconv.encode(text, charset));
const b64 = (buf) => Buffer.from(buf).toString('base64');
const wrap76 = (s) => s.replace(/.{1,76}/g, '$&\r\n').trimEnd();
const ewB = (text, charset = 'UTF-8') => `=?${charset}?B?${b64(enc(text, charset))}?=`;
const ewQ = (text, charset = 'UTF-8') =>
  `=?${charset}?Q?${[...enc(text, charset)].map((b) => (b === 0x20 ? '_' : b > 0x20 && b < 0x7f && b !== 0x3d && b !== 0x3f && b !== 0x5f ? String.fromCharCode(b) : '=' + b.toString(16).toUpperCase().padStart(2, '0'))).join('')}?=`;
const qp = (buf) => {
  let line = '';
  let outText = '';
  for (const b of buf) {
    const piece = b === 0x0a ? '\n' : b === 0x0d ? '' : b >= 0x21 && b <= 0x7e && b !== 0x3d ? String.fromCharCode(b) : b === 0x20 ? ' ' : '=' + b.toString(16).toUpperCase().padStart(2, '0');
    if (piece === '\n') {
      outText += line.replace(/ $/, '=20') + '\r\n';
      line = '';
      continue;
    }
    if (line.length + piece.length > 75) {
      outText += line + '=\r\n';
      line = '';
    }
    line += piece;
  }
  return outText + line;
};
const addr = (a) => `"${a.name}" <${a.address}>`;

/** Builds a message from header lines and a body (string or Buffer); CRLF everywhere. */
function message(headers, body) {
  const head = headers.filter(Boolean).join('\r\n') + '\r\n\r\n';
  const bodyBuf = Buffer.isBuffer(body) ? body : Buffer.from(body.replace(/\r?\n/g, '\r\n'), 'utf8');
  return Buffer.concat([Buffer.from(head, 'utf8'), bodyBuf]);
}
const std = (name, subject, extra = []) => [
  `From: ${addr(FROM)}`,
  `To: ${addr(TO)}`,
  `Subject: ${subject}`,
  `Date: ${DATE}`,
  `Message-ID: <${name}@corpus.pushmail.test>`,
  'MIME-Version: 1.0',
  ...extra,
];
const base = (name, subject) => ({
  subject,
  from: FROM,
  to: [TO],
  cc: [],
  date: DATE_ISO,
  messageId: `<${name}@corpus.pushmail.test>`,
});

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
const PDF = Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n');

const corpus = [];
const add = (name, raw, expected) => corpus.push({ name, raw, expected });

// ---------------------------------------------------------------- structure
add('plain-ascii', message(std('plain-ascii', 'Plain text', ['Content-Type: text/plain; charset=us-ascii']), 'Hello Bob,\nthis is plain text.\n\n-- \nAlice\n'), {
  description: 'single text/plain part',
  ...base('plain-ascii', 'Plain text'),
  textIncludes: ['Hello Bob,', 'this is plain text.'],
  html: null,
  preview: 'Hello Bob, this is plain text. -- Alice',
  attachments: [],
});

add('alternative', message(std('alternative', 'Alternative parts', ['Content-Type: multipart/alternative; boundary="alt-1"']), [
  'This is a multi-part message in MIME format.',
  '--alt-1',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  qp(Buffer.from('Plain version: caf\u00e9 \u2014 enjoy.\n')),
  '--alt-1',
  'Content-Type: text/html; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  qp(Buffer.from('<html><body><p>HTML version: <b>caf\u00e9</b> \u2014 enjoy.</p></body></html>\n')),
  '--alt-1--',
  '',
].join('\n')), {
  description: 'multipart/alternative with quoted-printable text and html',
  ...base('alternative', 'Alternative parts'),
  textIncludes: ['Plain version: café — enjoy.'],
  htmlIncludes: ['<p>HTML version: <b>café</b> — enjoy.</p>'],
  attachments: [],
});

add('mixed-attachments', message(std('mixed-attachments', 'Two attachments', ['Content-Type: multipart/mixed; boundary="mix"']), [
  '--mix',
  'Content-Type: multipart/alternative; boundary="alt"',
  '',
  '--alt',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'See the attached report.',
  '--alt',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>See the attached <i>report</i>.</p>',
  '--alt--',
  '',
  '--mix',
  'Content-Type: application/pdf; name="report.pdf"',
  'Content-Disposition: attachment; filename="report.pdf"',
  'Content-Transfer-Encoding: base64',
  '',
  wrap76(b64(PDF)),
  '--mix',
  'Content-Type: text/csv; charset=utf-8; name="data.csv"',
  'Content-Disposition: attachment; filename="data.csv"',
  '',
  'a,b\n1,2',
  '--mix--',
  '',
].join('\n')), {
  description: 'multipart/mixed: alternative body plus two attachments',
  ...base('mixed-attachments', 'Two attachments'),
  textIncludes: ['See the attached report.'],
  textExcludes: ['a,b'],
  htmlIncludes: ['<i>report</i>'],
  attachments: [
    { partId: '2', filename: 'report.pdf', contentType: 'application/pdf', size: PDF.length, inline: false },
    { partId: '3', filename: 'data.csv', contentType: 'text/csv', inline: false },
  ],
});

add('related-cid', message(std('related-cid', 'Inline images', ['Content-Type: multipart/related; boundary="rel"; type="multipart/alternative"']), [
  '--rel',
  'Content-Type: multipart/alternative; boundary="alt"',
  '',
  '--alt',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Logo and chart inline.',
  '--alt',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<p>Logo: <img src="cid:logo@corpus" alt="logo"> chart: <img src="CID:chart%40corpus" alt="chart"></p>',
  '--alt--',
  '--rel',
  'Content-Type: image/png; name="logo.png"',
  'Content-ID: <logo@corpus>',
  'Content-Disposition: inline; filename="logo.png"',
  'Content-Transfer-Encoding: base64',
  '',
  wrap76(b64(PNG)),
  '--rel',
  'Content-Type: image/png',
  'Content-ID: <chart@corpus>',
  'Content-Transfer-Encoding: base64',
  '',
  wrap76(b64(PNG)),
  '--rel--',
  '',
].join('\n')), {
  description: 'multipart/related with two cid: images (one without filename or disposition)',
  ...base('related-cid', 'Inline images'),
  htmlIncludes: ['src="{partPath:2}"', 'src="{partPath:3}"'],
  htmlExcludes: ['cid:'],
  attachments: [
    { partId: '2', filename: 'logo.png', contentType: 'image/png', size: PNG.length, inline: true, contentId: '<logo@corpus>' },
    { partId: '3', filename: null, contentType: 'image/png', size: PNG.length, inline: true, contentId: '<chart@corpus>' },
  ],
});

const innerForward = [
  'From: "Carol Original" <carol@example.test>',
  'To: alice@example.test',
  'Subject: Original subject',
  'Date: Sun, 01 Feb 2026 08:00:00 +0000',
  'Message-ID: <original@example.test>',
  'Content-Type: multipart/mixed; boundary="inner"',
  '',
  '--inner',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'This is the original message body.',
  '--inner',
  'Content-Type: application/pdf; name="inner.pdf"',
  'Content-Disposition: attachment; filename="inner.pdf"',
  'Content-Transfer-Encoding: base64',
  '',
  wrap76(b64(PDF)),
  '--inner--',
  '',
].join('\n');
add('forwarded-inline', message(std('forwarded-inline', 'Fwd: Original subject', ['Content-Type: multipart/mixed; boundary="outer"']), [
  '--outer',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Forwarding this to you.',
  '--outer',
  'Content-Type: message/rfc822',
  '',
  innerForward,
  '--outer--',
  '',
].join('\n')), {
  description: 'forwarded message/rfc822 shown inline; its attachment keeps its nested part number',
  ...base('forwarded-inline', 'Fwd: Original subject'),
  textIncludes: ['Forwarding this to you.', 'This is the original message body.'],
  attachments: [{ partId: '2.2', filename: 'inner.pdf', contentType: 'application/pdf', size: PDF.length, inline: false }],
});

add('forwarded-attachment', message(std('forwarded-attachment', 'Fwd as attachment', ['Content-Type: multipart/mixed; boundary="outer"']), [
  '--outer',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'The original is attached.',
  '--outer',
  'Content-Type: message/rfc822; name="original.eml"',
  'Content-Disposition: attachment; filename="original.eml"',
  '',
  innerForward,
  '--outer--',
  '',
].join('\n')), {
  description: 'forwarded message/rfc822 as an attachment',
  ...base('forwarded-attachment', 'Fwd as attachment'),
  textIncludes: ['The original is attached.'],
  textExcludes: ['This is the original message body.'],
  attachments: [{ partId: '2', filename: 'original.eml', contentType: 'message/rfc822', inline: false }],
});

add('forwarded-simple', message(std('forwarded-simple', 'Fwd: simple', ['Content-Type: multipart/mixed; boundary="o"']), [
  '--o',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'FYI below.',
  '--o',
  'Content-Type: message/rfc822',
  'Content-Disposition: inline',
  '',
  'From: dave@example.test',
  'Subject: inner single part',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Inner single-part body.',
  '--o',
  'Content-Type: image/png; name="after.png"',
  'Content-Disposition: attachment; filename="after.png"',
  'Content-Transfer-Encoding: base64',
  '',
  wrap76(b64(PNG)),
  '--o--',
  '',
].join('\n')), {
  description: 'inline forwarded single-part message followed by an attachment',
  ...base('forwarded-simple', 'Fwd: simple'),
  textIncludes: ['FYI below.', 'Inner single-part body.'],
  attachments: [{ partId: '3', filename: 'after.png', contentType: 'image/png', size: PNG.length, inline: false }],
});

add('deep-structure', message(std('deep-structure', 'Mixed related alternative', ['Content-Type: multipart/mixed; boundary="m"']), [
  '--m',
  'Content-Type: multipart/related; boundary="r"',
  '',
  '--r',
  'Content-Type: multipart/alternative; boundary="a"',
  '',
  '--a',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Deep plain.',
  '--a',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<div>Deep <img src="cid:pic@deep"></div>',
  '--a--',
  '--r',
  'Content-Type: image/gif; name="pic.gif"',
  'Content-ID: <pic@deep>',
  'Content-Transfer-Encoding: base64',
  '',
  'R0lGODlhAQABAAAAACw=',
  '--r--',
  '--m',
  'Content-Type: application/zip; name="files.zip"',
  'Content-Disposition: attachment; filename="files.zip"',
  'Content-Transfer-Encoding: base64',
  '',
  'UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==',
  '--m--',
  '',
].join('\n')), {
  description: 'mixed > related > alternative, with the image at 1.2 and a zip at 2',
  ...base('deep-structure', 'Mixed related alternative'),
  textIncludes: ['Deep plain.'],
  htmlIncludes: ['src="{partPath:1.2}"'],
  attachments: [
    { partId: '1.2', filename: 'pic.gif', contentType: 'image/gif', size: 14, inline: true, contentId: '<pic@deep>' },
    { partId: '2', filename: 'files.zip', contentType: 'application/zip', size: 22, inline: false },
  ],
});

add('text-attachment', message(std('text-attachment', 'Notes attached', ['Content-Type: multipart/mixed; boundary="t"']), [
  '--t',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Body text only.',
  '--t',
  'Content-Type: text/plain; charset=utf-8; name="notes.txt"',
  'Content-Disposition: attachment; filename="notes.txt"',
  '',
  'secret notes content',
  '--t',
  'Content-Type: text/html; charset=utf-8',
  'Content-Disposition: attachment; filename="page.html"',
  '',
  '<script>alert(1)</script><p>page</p>',
  '--t--',
  '',
].join('\n')), {
  description: 'text/plain and text/html parts with Content-Disposition: attachment are attachments, not body',
  ...base('text-attachment', 'Notes attached'),
  textIncludes: ['Body text only.'],
  textExcludes: ['secret notes content'],
  html: null,
  attachments: [
    { partId: '2', filename: 'notes.txt', contentType: 'text/plain', inline: false },
    { partId: '3', filename: 'page.html', contentType: 'text/html', inline: false },
  ],
});

add('calendar-invite', message(std('calendar-invite', 'Invitation: Standup', ['Content-Type: multipart/mixed; boundary="c"']), [
  '--c',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'You are invited.',
  '--c',
  'Content-Type: text/calendar; charset=utf-8; method=REQUEST; name="invite.ics"',
  '',
  'BEGIN:VCALENDAR\nMETHOD:REQUEST\nEND:VCALENDAR',
  '--c--',
  '',
].join('\n')), {
  description: 'text/calendar part is an attachment',
  ...base('calendar-invite', 'Invitation: Standup'),
  textIncludes: ['You are invited.'],
  attachments: [{ partId: '2', filename: 'invite.ics', contentType: 'text/calendar', inline: false }],
});

add('html-only', message(std('html-only', 'HTML only', ['Content-Type: text/html; charset=utf-8']), '<html><head><style>p{margin:0}</style></head><body><h1>Newsletter</h1><p>First&nbsp;line &amp; more</p><p>Second line</p></body></html>\n'), {
  description: 'text/html only: text is derived from the sanitized html',
  ...base('html-only', 'HTML only'),
  textIncludes: ['Newsletter', 'First line & more', 'Second line'],
  textExcludes: ['margin', '<p>'],
  htmlIncludes: ['<h1>Newsletter</h1>', '<style>p{margin:0}</style>'],
  attachments: [],
});

add('delivery-report', message(std('delivery-report', 'Undelivered Mail Returned to Sender', ['Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"']), [
  '--dsn',
  'Content-Type: text/plain; charset=us-ascii',
  '',
  'Your message could not be delivered.',
  '--dsn',
  'Content-Type: message/delivery-status',
  '',
  'Reporting-MTA: dns; mx.example.test',
  '',
  'Final-Recipient: rfc822; nobody@example.test',
  'Action: failed',
  'Status: 5.1.1',
  '--dsn',
  'Content-Type: message/rfc822',
  '',
  'From: alice@example.test',
  'To: nobody@example.test',
  'Subject: lost',
  '',
  'The lost message body.',
  '--dsn--',
  '',
].join('\n')), {
  description: 'a bounce: the returned message is an attachment, not inlined',
  ...base('delivery-report', 'Undelivered Mail Returned to Sender'),
  textIncludes: ['Your message could not be delivered.'],
  textExcludes: ['The lost message body.'],
  attachments: [
    { partId: '2', contentType: 'message/delivery-status', inline: false },
    { partId: '3', contentType: 'message/rfc822', inline: false },
  ],
});

const refs = Array.from({ length: 5 }, (_, i) => `<ref${i}@thread.test>`);
add('threading', message([
  `From: ${addr(FROM)}`,
  `To: ${addr(TO)}`,
  'Subject: Re: Re: Thread',
  `Date: ${DATE}`,
  'Message-ID: <threading@corpus.pushmail.test>',
  'In-Reply-To: <ref4@thread.test> (Bob\'s message)',
  `References: ${refs.slice(0, 3).join(' ')}\r\n ${refs.slice(3).join('\r\n\t')}`,
  'Content-Type: text/plain; charset=utf-8',
], 'Reply text.\n\n> quoted\n'), {
  description: 'threading headers: In-Reply-To with a comment, folded References',
  ...base('threading', 'Re: Re: Thread'),
  inReplyTo: '<ref4@thread.test>',
  references: refs,
  textIncludes: ['Reply text.'],
  attachments: [],
});

add('no-date', message([`From: ${addr(FROM)}`, `To: ${addr(TO)}`, 'Subject: No date', 'Content-Type: text/plain', ''], 'No date header here.\n'), {
  description: 'no Date and no Message-ID header: date and messageId are null',
  subject: 'No date',
  date: null,
  messageId: null,
  textIncludes: ['No date header here.'],
  attachments: [],
});

add('bad-date', message([`From: ${addr(FROM)}`, `To: ${addr(TO)}`, 'Subject: Bad date', 'Date: sometime last tuesday', 'Message-ID: <bad-date@corpus.pushmail.test>', 'Content-Type: text/plain'], 'x\n'), {
  description: 'an unparseable Date header: date is null and a warning says why',
  subject: 'Bad date',
  date: null,
  warnings: ['Date'],
  attachments: [],
});

add('empty-body', message([`From: ${addr(FROM)}`, `To: ${addr(TO)}`, 'Subject:', `Date: ${DATE}`, 'Message-ID: <empty-body@corpus.pushmail.test>'], ''), {
  description: 'empty subject and empty body',
  subject: '',
  text: '',
  preview: '',
  html: null,
  attachments: [],
});

const longText = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(20);
add('long-preview', message(std('long-preview', 'Long body', ['Content-Type: text/plain; charset=utf-8']), `${longText}\n`), {
  description: 'preview is about 200 characters of the text',
  ...base('long-preview', 'Long body'),
  previewMaxLength: 201,
  previewStartsWith: 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. Lorem ipsum',
  attachments: [],
});

add('recipients', message([
  `From: ${addr(FROM)}`,
  'To: "Bob Reader" <bob@example.test>, carol@example.test, Team: dan@example.test, "Eve E." <eve@example.test>;',
  'Cc: =?UTF-8?Q?Fran=C3=A7ois?= <francois@example.test>, undisclosed-recipients:;',
  'Subject: Many recipients',
  `Date: ${DATE}`,
  'Message-ID: <recipients@corpus.pushmail.test>',
  'Content-Type: text/plain',
], 'hi all\n'), {
  description: 'address lists with groups (flattened), bare addresses and an empty group',
  ...base('recipients', 'Many recipients'),
  to: [
    { name: 'Bob Reader', address: 'bob@example.test' },
    { name: '', address: 'carol@example.test' },
    { name: '', address: 'dan@example.test' },
    { name: 'Eve E.', address: 'eve@example.test' },
  ],
  cc: [{ name: 'François', address: 'francois@example.test' }],
  attachments: [],
});

add('remote-images', message(std('remote-images', 'Newsletter with tracking', ['Content-Type: text/html; charset=utf-8']), '<table background="https://t.example.test/bg.png"><tr><td style="background-image:url(\'https://t.example.test/cell.png\');color:#123">Hi</td></tr></table><img src="https://t.example.test/pixel.gif?u=bob" width="1" height="1"><img src="data:image/png;base64,iVBORw0KGgo=" alt="inline data">\n'), {
  description: 'remote images, backgrounds and CSS urls are held back behind markers; data: images stay',
  ...base('remote-images', 'Newsletter with tracking'),
  htmlIncludes: ['style="background-image:none;color:#123"', 'data-pushmail-src="https://t.example.test/pixel.gif?u=bob"', 'data-pushmail-background="https://t.example.test/bg.png"', 'data-pushmail-remote', 'src="data:image/png;base64,iVBORw0KGgo="'],
  htmlExcludes: [' src="https://', ' style="background-image:url('],
  attachments: [],
});

add('qp-soft-breaks', message(std('qp-soft-breaks', 'Quoted printable', ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable']), Buffer.from('A very long line that is wrapped with soft line breaks so that it never exceeds seve=\r\nnty-six characters, and a euro sign =E2=82=AC.\r\n')), {
  description: 'quoted-printable soft line breaks and multi-byte escapes',
  ...base('qp-soft-breaks', 'Quoted printable'),
  textIncludes: ['exceeds seventy-six characters, and a euro sign €.'],
  attachments: [],
});

// ---------------------------------------------------------------- charsets
const charsetCases = [
  ['iso-8859-1', 'latin1', 'Café crème à la française', 'Héloïse Dupré'],
  ['iso-8859-2', 'latin2', 'Zażółć gęślą jaźń — Příliš žluťoučký kůň'.replace(' — ', ' '), 'Łukasz Wrzós'],
  ['iso-8859-7', 'greek', 'Καλημέρα κόσμε', 'Νίκος Παπαδόπουλος'],
  ['iso-8859-15', 'latin9', 'Prix: 50 € œuvre', 'Zoë Œllet'],
  ['windows-1250', 'cp1250', 'Dobrý den, šťastný nový rok', 'Jiří Novák'],
  ['windows-1251', 'cp1251', 'Добрый день, как дела?', 'Иван Петров'],
  ['windows-1252', 'cp1252', '“Smart quotes” – and … ellipsis €', 'Renée O’Brien'],
  ['koi8-r', 'koi8r', 'Привет из KOI8-R, съешь ещё', 'Пётр Сидоров'],
  ['gb2312', 'gb2312', '你好，世界！中文邮件测试', '张伟'],
  ['gbk', 'gbk', '繁體與简体混合：測試郵件', '李娜'],
  ['shift_jis', 'sjis', 'こんにちは、世界。日本語のメールです', '山田太郎'],
  ['iso-2022-jp', 'jis', 'こんにちは、ISO-2022-JPのメールです', '鈴木花子'],
  ['big5', 'big5', '繁體中文郵件測試', '陳大文'],
];
for (const [charset, short, text, senderName] of charsetCases) {
  const name = `charset-${short}`;
  const subject = `${text.slice(0, 12)} (${charset})`;
  const bodyText = `${text}\n\nSecond paragraph in ${charset}.\n`;
  const jis = charset === 'iso-2022-jp';
  const cte = jis ? '7bit' : charset.startsWith('iso-8859') || charset.startsWith('windows') ? 'quoted-printable' : charset === 'koi8-r' ? '8bit' : 'base64';
  const bodyBytes = enc(bodyText.replace(/\n/g, '\r\n'), charset);
  const encodedBody = cte === 'quoted-printable' ? Buffer.from(qp(bodyBytes)) : cte === 'base64' ? Buffer.from(wrap76(b64(bodyBytes)) + '\r\n') : bodyBytes;
  const encodeWord = jis || charset === 'koi8-r' || charset === 'big5' ? ewB : ewQ;
  add(name, message([
    `From: ${encodeWord(senderName, charset)} <sender@example.test>`,
    `To: ${addr(TO)}`,
    `Subject: ${encodeWord(subject, charset)}`,
    `Date: ${DATE}`,
    `Message-ID: <${name}@corpus.pushmail.test>`,
    'MIME-Version: 1.0',
    `Content-Type: text/plain; charset="${charset}"`,
    `Content-Transfer-Encoding: ${cte}`,
  ], encodedBody), {
    description: `${charset} body (${cte}) with ${charset} encoded words in Subject and From`,
    ...base(name, subject),
    from: { name: senderName, address: 'sender@example.test' },
    textIncludes: [text, `Second paragraph in ${charset}.`],
    attachments: [],
  });
}

add('charset-html-koi8r', message(std('charset-html-koi8r', 'HTML in KOI8-R', ['Content-Type: text/html; charset=koi8-r', 'Content-Transfer-Encoding: base64']), Buffer.from(wrap76(b64(enc('<p>Съешь же ещё этих мягких французских булок</p>', 'koi8-r'))) + '\r\n')), {
  description: 'html body in KOI8-R, base64',
  ...base('charset-html-koi8r', 'HTML in KOI8-R'),
  htmlIncludes: ['<p>Съешь же ещё этих мягких французских булок</p>'],
  textIncludes: ['Съешь же ещё этих мягких французских булок'],
  attachments: [],
});

add('encoded-filenames', message(std('encoded-filenames', `${ewB('Übersicht Q3 ✓')} ${ewQ(' und mehr')}`, ['Content-Type: multipart/mixed; boundary="f"']), [
  '--f',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Files with encoded names.',
  '--f',
  `Content-Type: application/pdf; name="${ewB('Prüfbericht – März.pdf')}"`,
  `Content-Disposition: attachment; filename="${ewB('Prüfbericht – März.pdf')}"`,
  'Content-Transfer-Encoding: base64',
  '',
  wrap76(b64(PDF)),
  '--f',
  'Content-Type: application/octet-stream',
  "Content-Disposition: attachment; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E%E3%83%95%E3%82%A1%E3%82%A4%E3%83%AB.bin",
  'Content-Transfer-Encoding: base64',
  '',
  'AAEC',
  '--f',
  'Content-Type: application/octet-stream',
  "Content-Disposition: attachment;\r\n filename*0*=ISO-8859-1''R%E9sum%E9%20;\r\n filename*1*=%E9t%E9%20long;\r\n filename*2=\".txt\"",
  'Content-Transfer-Encoding: base64',
  '',
  'AAEC',
  '--f',
  `Content-Type: image/png; name=${ewQ('ロゴ.png', 'ISO-2022-JP')}`,
  'Content-Transfer-Encoding: base64',
  '',
  wrap76(b64(PNG)),
  '--f--',
  '',
].join('\n')), {
  description: 'RFC 2047 subject (B and Q words joined), RFC 2047 filename, RFC 2231 filename with continuations and charsets',
  ...base('encoded-filenames', 'Übersicht Q3 ✓ und mehr'),
  textIncludes: ['Files with encoded names.'],
  attachments: [
    { partId: '2', filename: 'Prüfbericht – März.pdf', contentType: 'application/pdf', size: PDF.length },
    { partId: '3', filename: '日本語ファイル.bin', contentType: 'application/octet-stream', size: 3 },
    { partId: '4', filename: 'Résumé été long.txt', contentType: 'application/octet-stream', size: 3 },
    { partId: '5', filename: 'ロゴ.png', contentType: 'image/png', size: PNG.length },
  ],
});

add('encoded-names', message([
  `From: ${ewQ('José Müller', 'ISO-8859-1')} <jose@example.test>`,
  `To: ${ewB('Ольга', 'KOI8-R')} ${ewB('Иванова', 'KOI8-R')} <olga@example.test>, "${ewB('王芳', 'GB2312')}" <wang@example.test>`,
  `Cc: ${ewB('田中', 'SHIFT_JIS')} <tanaka@example.test>`,
  `Subject: ${ewQ('Grüße aus', 'ISO-8859-1')}\r\n ${ewQ(' Köln', 'ISO-8859-1')}`,
  `Date: ${DATE}`,
  'Message-ID: <encoded-names@corpus.pushmail.test>',
  'Content-Type: text/plain; charset=utf-8',
], 'names\n'), {
  description: 'encoded words in display names in several charsets; adjacent encoded words join without the space',
  ...base('encoded-names', 'Grüße aus Köln'),
  from: { name: 'José Müller', address: 'jose@example.test' },
  to: [{ name: 'ОльгаИванова', address: 'olga@example.test' }, { name: '王芳', address: 'wang@example.test' }],
  cc: [{ name: '田中', address: 'tanaka@example.test' }],
  attachments: [],
});

add('utf8-headers', message([
  'From: "Zoë Ünicode" <zoe@example.test>',
  `To: ${addr(TO)}`,
  'Subject: Raw UTF-8 subject — ça marche 🎉',
  `Date: ${DATE}`,
  'Message-ID: <utf8-headers@corpus.pushmail.test>',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: 8bit',
], 'Raw UTF-8 body ✓\n'), {
  description: 'raw UTF-8 headers (RFC 6532) are fine and raise no warning',
  ...base('utf8-headers', 'Raw UTF-8 subject — ça marche 🎉'),
  from: { name: 'Zoë Ünicode', address: 'zoe@example.test' },
  textIncludes: ['Raw UTF-8 body ✓'],
  attachments: [],
});

// ---------------------------------------------------------------- malformed
add('malformed-missing-boundary', message(std('malformed-missing-boundary', 'Missing boundary', ['Content-Type: multipart/mixed']), 'This multipart has no boundary parameter.\nStill readable.\n'), {
  description: 'multipart without boundary: body read as text, with a warning',
  ...base('malformed-missing-boundary', 'Missing boundary'),
  textIncludes: ['This multipart has no boundary parameter.'],
  warnings: ['without a boundary'],
  attachments: [],
});

add('malformed-truncated-multipart', message(std('malformed-truncated-multipart', 'Truncated', ['Content-Type: multipart/mixed; boundary="cut"']), [
  '--cut',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'The first part arrived whole.',
  '--cut',
  'Content-Type: application/pdf; name="half.pdf"',
  'Content-Disposition: attachment; filename="half.pdf"',
  'Content-Transfer-Encoding: base64',
  '',
  'JVBERi0xLjQKMSAwIG9iajw8PmVuZG9iagp0cmFp',
  '',
].join('\n')), {
  description: 'multipart cut off before its closing boundary',
  ...base('malformed-truncated-multipart', 'Truncated'),
  textIncludes: ['The first part arrived whole.'],
  warnings: ['closing boundary'],
  attachments: [{ partId: '2', filename: 'half.pdf', contentType: 'application/pdf' }],
});

add('malformed-no-parts', message(std('malformed-no-parts', 'Boundary never used', ['Content-Type: multipart/alternative; boundary="never"']), 'Just some text where parts should be.\n'), {
  description: 'a boundary that never occurs: no parts, a warning',
  ...base('malformed-no-parts', 'Boundary never used'),
  warnings: ['no parts'],
  attachments: [],
});

add('malformed-8bit-headers', Buffer.concat([
  Buffer.from('From: '), iconv.encode('Jürgen Groß', 'windows-1252'), Buffer.from(' <juergen@example.test>\r\n'),
  Buffer.from(`To: ${addr(TO)}\r\n`),
  Buffer.from('Subject: '), iconv.encode('Grüße – Straße', 'windows-1252'), Buffer.from('\r\n'),
  Buffer.from(`Date: ${DATE}\r\nMessage-ID: <malformed-8bit-headers@corpus.pushmail.test>\r\n`),
  Buffer.from('Content-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'),
  iconv.encode('Body in windows-1252: Grüße\r\n', 'windows-1252'),
]), {
  description: 'raw 8-bit (non-UTF-8) bytes in headers: decoded in the body charset, with a warning',
  ...base('malformed-8bit-headers', 'Grüße – Straße'),
  from: { name: 'Jürgen Groß', address: 'juergen@example.test' },
  textIncludes: ['Body in windows-1252: Grüße'],
  warnings: ['8-bit'],
  attachments: [],
});

add('malformed-unknown-charset', message(std('malformed-unknown-charset', `${'=?x-klingon?Q?Qapla=E9?='} ok`, ['Content-Type: text/plain; charset="x-unknown-42"', 'Content-Transfer-Encoding: 8bit']), Buffer.from('plain ascii survives; caf\xe9\r\n', 'latin1')), {
  description: 'unknown charsets in body and in an encoded word: read as windows-1252, with warnings',
  subject: 'Qaplaé ok',
  textIncludes: ['plain ascii survives; café'],
  warnings: ['unknown charset "x-unknown-42"', 'unknown charset "x-klingon"'],
  attachments: [],
});

add('malformed-broken-base64', message(std('malformed-broken-base64', 'Broken base64', ['Content-Type: multipart/mixed; boundary="b"']), [
  '--b',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: base64',
  '',
  b64(Buffer.from('Decoded text before the damage. ')) + '!!**not base64**!!',
  '--b',
  'Content-Type: application/octet-stream; name="cut.bin"',
  'Content-Disposition: attachment; filename="cut.bin"',
  'Content-Transfer-Encoding: base64',
  '',
  'AAECAwQFBgcICQ',
  '--b--',
  '',
].join('\n')), {
  description: 'base64 with invalid characters and a truncated base64 attachment',
  ...base('malformed-broken-base64', 'Broken base64'),
  textIncludes: ['Decoded text before the damage.'],
  warnings: ['invalid characters in base64', 'base64 body is truncated'],
  attachments: [{ partId: '2', filename: 'cut.bin', contentType: 'application/octet-stream' }],
});

add('malformed-broken-qp', message(std('malformed-broken-qp', 'Broken QP', ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable']), Buffer.from('Price =3D 10 but =ZZ and =4 are broken; caf=C3=A9 still decodes.\r\n')), {
  description: 'quoted-printable with invalid escapes',
  ...base('malformed-broken-qp', 'Broken QP'),
  textIncludes: ['Price = 10', 'café still decodes.'],
  warnings: ['quoted-printable'],
  attachments: [],
});

{
  const depth = 100;
  const lines = [];
  for (let i = 0; i < depth; i++) lines.push(`--n${i}`, `Content-Type: multipart/mixed; boundary="n${i + 1}"`, '');
  lines.push(`--n${depth}`, 'Content-Type: text/plain; charset=utf-8', '', 'The bottom of a 100-level nest.');
  for (let i = depth; i >= 0; i--) lines.push(`--n${i}--`);
  add('malformed-nesting-100', message(std('malformed-nesting-100', 'Deep nesting', ['Content-Type: multipart/mixed; boundary="n0"']), lines.join('\n') + '\n'), {
    description: 'multipart nested 100 levels deep: still parsed, with a warning',
    ...base('malformed-nesting-100', 'Deep nesting'),
    warnings: ['nested'],
    attachments: [],
  });
}

{
  const folded = Array.from({ length: 14000 }, (_, i) => ` x${String(i).padStart(5, '0')}-${'y'.repeat(66)}`).join('\r\n');
  add('malformed-header-1mb', message([...std('malformed-header-1mb', 'Huge header'), `X-Huge:${folded}`, 'Content-Type: text/plain'], 'Body after a 1 MB header.\n'), {
    description: 'a 1 MB header field: the message is still delivered, with a warning',
    ...base('malformed-header-1mb', 'Huge header'),
    textIncludes: ['Body after a 1 MB header.'],
    warnings: ['header field is longer than'],
    attachments: [],
  });
}

add('malformed-garbage', Buffer.concat([Buffer.from('this is not a mail at all\r\n\x00\x01\x02 binary junk \xff\xfe\r\n', 'latin1')]), {
  description: 'no headers at all, binary junk: delivered with empty fields, no crash',
  subject: '',
  from: null,
  to: [],
  date: null,
  messageId: null,
  warningsAllowed: true,
  attachments: [],
});

add('malformed-unknown-encoding', message(std('malformed-unknown-encoding', 'Unknown CTE', ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: x-uuencode-ish']), 'readable anyway\n'), {
  description: 'unknown Content-Transfer-Encoding: passed through, with a warning',
  ...base('malformed-unknown-encoding', 'Unknown CTE'),
  textIncludes: ['readable anyway'],
  warnings: ['Content-Transfer-Encoding'],
  attachments: [],
});

add('malformed-bad-content-type', message(std('malformed-bad-content-type', 'Bad content type', ['Content-Type: this is not/a valid type; charset=utf-8']), 'fallback to text\n'), {
  description: 'syntactically invalid Content-Type: read as text/plain',
  ...base('malformed-bad-content-type', 'Bad content type'),
  textIncludes: ['fallback to text'],
  warnings: ['Content-Type'],
  attachments: [],
});

// ---------------------------------------------------------------- XSS
const groups = 3;
const per = Math.ceil(vectors.length / groups);
for (let g = 0; g < groups; g++) {
  const name = `xss-${g + 1}`;
  const slice = vectors.slice(g * per, (g + 1) * per);
  const html = `<html><body><p>XSS set ${g + 1}</p>\n${slice.map((v, i) => `<div class="v">${i}</div>${v}`).join('\n')}\n<p>end of set</p></body></html>\n`;
  add(name, message(std(name, `XSS vectors ${g + 1}`, ['Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: base64']), Buffer.from(wrap76(b64(Buffer.from(html))) + '\r\n')), {
    description: `XSS vectors ${g * per + 1}-${g * per + slice.length} of xss-vectors.json in one html body`,
    ...base(name, `XSS vectors ${g + 1}`),
    htmlIncludes: [`XSS set ${g + 1}`],
    noScriptCapableMarkup: true,
    vectors: slice.length,
    attachments: [],
  });
}

add('xss-multipart', message(std('xss-multipart', 'XSS in alternative', ['Content-Type: multipart/alternative; boundary="x"']), [
  '--x',
  'Content-Type: text/plain; charset=utf-8',
  '',
  '<script>alert("text is text")</script>',
  '--x',
  'Content-Type: text/html; charset=utf-8',
  'Content-Transfer-Encoding: quoted-printable',
  '',
  qp(Buffer.from('<img src=3D"x" onerror=3D"alert(1)"><a href=3D"javascript:alert(2)">click</a><iframe src=3D"https://evil.test"></iframe><p>safe</p>\n'.replace(/=3D/g, '='))),
  '--x--',
  '',
].join('\n')), {
  description: 'script in html of an alternative; the plain text keeps it as text',
  ...base('xss-multipart', 'XSS in alternative'),
  textIncludes: ['<script>alert("text is text")</script>'],
  htmlIncludes: ['<p>safe</p>', 'click'],
  htmlExcludes: ['onerror', 'javascript:', 'iframe'],
  noScriptCapableMarkup: true,
  attachments: [],
});

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const { name, raw, expected } of corpus) {
  writeFileSync(join(out, `${name}.eml`), raw);
  writeFileSync(join(out, `${name}.expected.json`), JSON.stringify(expected, null, 2) + '\n');
}
writeFileSync(join(out, '.gitattributes'), '*.eml binary\n');
console.log(`${corpus.length} messages written to ${out}`);
console.log(readdirSync(out).filter((f) => f.endsWith('.eml')).length, 'eml files');
