import { NotifySourceMatcher, notifySourcesSchema } from './notify-sources';

const dc1 = { name: 'dc1', secret: 'a'.repeat(24), imapHosts: ['imap.example.com'] };
const dc2 = { name: 'dc2', secret: 'b'.repeat(32), imapHosts: ['imap.example.org'] };

describe('NOTIFY_SOURCES', () => {
  const parse = (raw: string | undefined) => notifySourcesSchema.safeParse(raw);

  it('defaults to no sources (the ingress is off), also when set empty', () => {
    expect(parse(undefined)).toEqual({ success: true, data: [] });
    expect(parse('')).toEqual({ success: true, data: [] });
  });

  it('takes a JSON array of sources', () => {
    expect(parse(JSON.stringify([dc1, dc2]))).toEqual({ success: true, data: [dc1, dc2] });
  });

  it.each([
    ['a secret under 24 characters', [{ ...dc1, secret: 'x'.repeat(23) }], [0, 'secret']],
    ['a source without hosts', [{ ...dc1, imapHosts: [] }], [0, 'imapHosts']],
    ['two sources with one secret', [dc1, { ...dc2, secret: dc1.secret }], [1, 'secret']],
    ['two sources with one name', [dc1, { ...dc2, name: 'dc1' }], [1, 'name']],
    ['an unknown field', [{ ...dc1, url: 'x' }], [0]],
  ])('refuses %s, naming the field', (_, value, path) => {
    const result = parse(JSON.stringify(value));
    expect(result.success).toBe(false);
    expect(result.error!.issues[0].path).toEqual(path);
  });

  it('refuses malformed JSON without echoing the value (it holds secrets)', () => {
    const result = parse(`[{"secret":"${dc1.secret}"`);
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error!.issues)).not.toContain(dc1.secret);
  });
});

describe('NotifySourceMatcher', () => {
  const matcher = new NotifySourceMatcher([dc1, dc2]);

  it('names the source whose secret is presented as a bearer token', () => {
    expect(matcher.match(`Bearer ${dc1.secret}`)).toBe(dc1);
    expect(matcher.match(`Bearer ${dc2.secret}`)).toBe(dc2);
  });

  it.each([undefined, '', 'Bearer ', `Bearer ${dc1.secret}x`, `Basic ${dc1.secret}`, dc1.secret, `Bearer ${dc1.secret.slice(1)}`])('refuses %p', (header) => {
    expect(matcher.match(header)).toBeNull();
  });

  it('with no sources, refuses everything', () => {
    const off = new NotifySourceMatcher([]);
    expect(off.enabled).toBe(false);
    expect(off.match('Bearer ')).toBeNull();
    expect(off.match(`Bearer ${dc1.secret}`)).toBeNull();
  });
});
