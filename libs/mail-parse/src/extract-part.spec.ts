import { extractPart } from './extract-part';
import { parseMail } from './parse-mail';

const pdf = Buffer.from('%PDF-1.4 fake pdf bytes \x00\x01\x02\xff', 'latin1');
const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2, 3]);

function message(): Buffer {
  const wrap = (b64: string) => b64.replace(/.{1,76}/g, '$&\r\n').trimEnd();
  return Buffer.from(
    [
      'Subject: parts',
      'Content-Type: multipart/mixed; boundary=outer',
      '',
      '--outer',
      'Content-Type: multipart/related; boundary=inner',
      '',
      '--inner',
      'Content-Type: text/html; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      '<p>caf=C3=A9 and a long line that is wrapped with a soft=',
      ' break</p><img src=3D"cid:logo">',
      '--inner',
      'Content-Type: image/png',
      'Content-ID: <logo>',
      'Content-Transfer-Encoding: base64',
      '',
      wrap(png.toString('base64')),
      '--inner--',
      '--outer',
      'Content-Type: application/pdf',
      "Content-Disposition: attachment;\r\n filename*=utf-8''r%C3%A9sum%C3%A9.pdf",
      'Content-Transfer-Encoding: base64',
      '',
      wrap(pdf.toString('base64')),
      '--outer',
      'Content-Type: text/plain; name="=?utf-8?B?w7xiZXIudHh0?="',
      'Content-Disposition: attachment',
      '',
      'plain 8bit body',
      '--outer--',
      '',
    ].join('\r\n'),
    'latin1',
  );
}

describe('extractPart', () => {
  it('cuts out each attachment by the part id the parser gave it, decoded', async () => {
    const raw = message();
    const parsed = await parseMail(raw);
    const byType = new Map(parsed.attachments.map((a) => [a.contentType, a.partId]));
    expect(byType.get('application/pdf')).toBe('2');
    expect(byType.get('image/png')).toBe('1.2');

    expect(extractPart(raw, '2')).toEqual({ contentType: 'application/pdf', filename: 'résumé.pdf', content: pdf });
    expect(extractPart(raw, '1.2')).toEqual({ contentType: 'image/png', content: png });
    expect(extractPart(raw, '3')).toEqual({ contentType: 'text/plain', filename: 'über.txt', content: Buffer.from('plain 8bit body') });
    expect(extractPart(raw, '1.1')?.content.toString('utf8')).toBe('<p>café and a long line that is wrapped with a soft break</p><img src="cid:logo">');
  });

  it('is null for a part the message does not have, or a multipart container', () => {
    expect(extractPart(message(), '4')).toBeNull();
    expect(extractPart(message(), '1')).toBeNull();
  });

  it('reads a single-part message as part 1', () => {
    expect(extractPart(Buffer.from('Subject: x\r\nContent-Type: text/plain\r\n\r\nhello'), '1')).toEqual({ contentType: 'text/plain', content: Buffer.from('hello') });
  });
});
