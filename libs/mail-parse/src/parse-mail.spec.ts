import { fixC1Controls } from './charsets';
import { parseMail } from './parse-mail';

describe('parseMail', () => {
  it('never throws, whatever the input', async () => {
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pieces = ['--b\r\n', 'Content-Type: multipart/mixed; boundary=b\r\n', '\r\n', '=?utf-8?B?', '=ZZ', 'Content-Transfer-Encoding: base64\r\n', '<script>', '\xff\xfe', ': ', 'Subject'];
    for (let i = 0; i < 200; i++) {
      const raw = Array.from({ length: 30 }, () => pieces[Math.floor(random() * pieces.length)]).join('');
      const parsed = await parseMail(Buffer.from(raw, 'latin1'));
      expect(typeof parsed.subject).toBe('string');
      expect(Array.isArray(parsed.attachments)).toBe(true);
    }
  });

  it('falls back to headers and the first text part when the parser gives up (nesting past its limit)', async () => {
    const lines = ['Subject: too deep', 'Message-ID: <deep@x>'];
    for (let i = 0; i < 300; i++) lines.push(`Content-Type: multipart/mixed; boundary=n${i}`, '', `--n${i}`);
    lines.push('Content-Type: text/plain', '', 'bottom text');
    const parsed = await parseMail(Buffer.from(lines.join('\r\n')));
    expect(parsed.subject).toBe('too deep');
    expect(parsed.messageId).toBe('<deep@x>');
    expect(parsed.parseWarnings.join('\n')).toMatch(/could not be parsed/);
  });

  it('uses the server part numbers when given', async () => {
    const raw = Buffer.from(
      ['Content-Type: multipart/mixed; boundary=a', '', '--a', 'Content-Type: text/plain', '', 'hi', '--a', 'Content-Type: application/pdf; name=x.pdf', '', 'pdf', '--a--', ''].join('\r\n'),
    );
    expect((await parseMail(raw)).attachments[0].partId).toBe('2');
    const structure = [
      { partId: '1', contentType: 'text/plain', disposition: null },
      { partId: '9', contentType: 'application/pdf', disposition: null },
    ];
    expect((await parseMail(raw, { structure })).attachments[0].partId).toBe('9');
  });

  it('says when its own part numbers may differ from the server', async () => {
    const part = (body: string) => ['Content-Type: multipart/mixed; boundary=a', '', '--a', 'Content-Type: text/plain', '', 'hi', '--a', 'Content-Type: application/pdf; name=x.pdf', '', body];
    const wellFormed = Buffer.from([...part('pdf'), '--a--', ''].join('\r\n'));
    const truncated = Buffer.from(part('pd').join('\r\n'));
    expect((await parseMail(wellFormed)).partIdsUncertain).toBeUndefined();
    expect((await parseMail(truncated)).partIdsUncertain).toBe(true);
    // Given the server's structure, or without attachments, there is nothing to be unsure of.
    const structure = [
      { partId: '1', contentType: 'text/plain', disposition: null },
      { partId: '2', contentType: 'application/pdf', disposition: null },
    ];
    expect((await parseMail(truncated, { structure })).partIdsUncertain).toBeUndefined();
    expect((await parseMail(Buffer.from('Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\r\nhi'))).partIdsUncertain).toBeUndefined();
  });

  it('keeps both ends of a very long References chain', async () => {
    const refs = Array.from({ length: 300 }, (_, i) => `<r${i}@x>`);
    const parsed = await parseMail(Buffer.from(`References: ${refs.join(' ')}\r\n\r\nx`));
    expect(parsed.references).toHaveLength(100);
    expect(parsed.references![0]).toBe('<r0@x>');
    expect(parsed.references![99]).toBe('<r299@x>');
  });

  it('maps C1 controls from a latin1 decode back to windows-1252', () => {
    expect(fixC1Controls('\u0093quoted\u0094 \u0080 \u0096')).toBe('“quoted” € –');
  });
});
