import { checkBase64, flattenParts, parseStructuredValue, scanMime } from './mime-scanner';

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

describe('checkBase64', () => {
  // The regex version it replaced, kept as the reference.
  const reference = (body: string) => {
    if (/[^A-Za-z0-9+/=\s]/.test(body)) return 'invalid characters in base64 body';
    const stripped = body.replace(/\s+/g, '');
    const padding = stripped.indexOf('=');
    return stripped.length % 4 !== 0 || (padding >= 0 && padding < stripped.length - 2) ? 'base64 body is truncated or damaged' : undefined;
  };
  const alphabet = 'AZaz09+/=\t\n\r \u000b\u000c\u00a0$-\u0085\u00ff';

  it('agrees with the regex reference on random bodies', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let n = 0; n < 5000; n++) {
      const length = next() % 24;
      let body = '';
      for (let i = 0; i < length; i++) body += alphabet[next() % (next() % 3 === 0 ? alphabet.length : 12)];
      const raw = Buffer.from(`xx${body}yy`, 'latin1');
      expect({ body, verdict: checkBase64(raw, 2, raw.length - 2) }).toEqual({ body, verdict: reference(body) });
    }
  });

  it('accepts well-formed bodies, with and without padding', () => {
    for (const text of ['', 'a', 'ab', 'abc', 'hello world!']) {
      const body = Buffer.from(text).toString('base64').replace(/.{4}/g, '$&\r\n');
      expect(checkBase64(Buffer.from(body, 'latin1'), 0, body.length)).toBeUndefined();
    }
  });
});
