import { contentDisposition, safeContentType } from './content-headers';

describe('download headers', () => {
  it('keeps plain MIME types and neutralises the rest', () => {
    expect(safeContentType('image/PNG')).toBe('image/png');
    expect(safeContentType('text/html\r\nSet-Cookie: x')).toBe('application/octet-stream');
    expect(safeContentType(undefined)).toBe('application/octet-stream');
  });

  it('encodes file names safely', () => {
    expect(contentDisposition('report.pdf')).toBe(`attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`);
    const evil = contentDisposition('a"; x=1\r\nSet-Cookie: y.txt');
    expect(evil).not.toMatch(/[\r\n]/);
    expect(evil.split('"')).toHaveLength(3);
    expect(contentDisposition('Grüße €.txt')).toContain(`filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%E2%82%AC.txt`);
  });
});
