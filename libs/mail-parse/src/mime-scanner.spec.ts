import { flattenParts, parseStructuredValue, scanMime } from './mime-scanner';

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n'));
const leafIds = (raw: Buffer) => flattenParts(scanMime(raw).root).map((p) => `${p.partId}:${p.contentType}`);

describe('scanMime', () => {
  it('numbers a single-part message body as 1', () => {
    expect(leafIds(crlf(['Subject: x', '', 'body']))).toEqual(['1:text/plain']);
  });

  it('numbers nested multiparts as IMAP does (RFC 3501 §6.4.5)', () => {
    const raw = crlf([
      'Content-Type: multipart/mixed; boundary=a',
      '',
      '--a',
      'Content-Type: multipart/alternative; boundary=b',
      '',
      '--b',
      'Content-Type: text/plain',
      '',
      'p',
      '--b',
      'Content-Type: text/html',
      '',
      'h',
      '--b--',
      '--a',
      'Content-Type: message/rfc822',
      '',
      'Subject: inner',
      'Content-Type: image/png',
      '',
      'x',
      '--a',
      'Content-Type: message/rfc822',
      '',
      'Content-Type: multipart/mixed; boundary=c',
      '',
      '--c',
      'Content-Type: text/plain',
      '',
      'i',
      '--c',
      'Content-Type: application/pdf',
      '',
      'pdf',
      '--c--',
      '--a--',
    ]);
    expect(leafIds(raw)).toEqual([
      '1.1:text/plain',
      '1.2:text/html',
      '2:message/rfc822',
      '2.1:image/png',
      '3:message/rfc822',
      '3.1:text/plain',
      '3.2:application/pdf',
    ]);
    expect(scanMime(raw).warnings).toEqual([]);
  });

  it('reads part bodies without the line break that belongs to the boundary', () => {
    const raw = crlf(['Content-Type: multipart/mixed; boundary="x y"', '', 'preamble', '--x y', '', 'hello', '--x y--', 'epilogue']);
    const [part] = flattenParts(scanMime(raw).root);
    expect(raw.toString('latin1', part.bodyStart, part.bodyEnd)).toBe('hello');
  });

  it('reports malformed structure instead of failing', () => {
    expect(scanMime(crlf(['Content-Type: multipart/mixed', '', 'text'])).warnings.join()).toMatch(/without a boundary/);
    expect(scanMime(crlf(['Content-Type: multipart/mixed; boundary=z', '', '--z', '', 'cut'])).warnings.join()).toMatch(/closing boundary/);
    expect(scanMime(crlf(['Content-Type: multipart/mixed; boundary=z', '', 'none'])).warnings.join()).toMatch(/no parts/);
    expect(scanMime(crlf(['Content-Type: text/plain', 'Content-Transfer-Encoding: base64', '', 'ab$c'])).warnings.join()).toMatch(/invalid characters/);
    expect(scanMime(crlf(['Content-Type: text/plain', 'Content-Transfer-Encoding: quoted-printable', '', 'a=XYb'])).warnings.join()).toMatch(/quoted-printable/);
    expect(scanMime(Buffer.from('Subject: caf\xe9\r\n\r\nx', 'latin1')).headerHas8bitNonUtf8).toBe(true);
    expect(scanMime(Buffer.from('Subject: café\r\n\r\nx', 'utf8')).headerHas8bitNonUtf8).toBe(false);
  });

  it('stops descending at extreme depth without recursion trouble', () => {
    const lines = [];
    for (let i = 0; i < 400; i++) lines.push(`Content-Type: multipart/mixed; boundary=n${i}`, '', `--n${i}`);
    lines.push('Content-Type: text/plain', '', 'bottom');
    const scan = scanMime(crlf(lines));
    expect(scan.warnings.join()).toMatch(/nested/);
  });
});

describe('parseStructuredValue', () => {
  it('parses quoted, unquoted and continued parameters', () => {
    expect(parseStructuredValue('Multipart/Mixed; boundary="a;b"; charset=UTF-8')).toEqual({ value: 'multipart/mixed', params: { boundary: 'a;b', charset: 'UTF-8' } });
    expect(parseStructuredValue("attachment; filename*0=\"a\"; filename*1=\"b.txt\"").params.filename).toBe('ab.txt');
  });
});
