import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findScriptCapableMarkup } from './safety';
import { REMOTE_MARKER, REMOTE_SRC, sanitizeMailHtml } from './sanitize';

const vectors = JSON.parse(readFileSync(join(__dirname, '../test/xss-vectors.json'), 'utf8')) as string[];

describe('sanitizeMailHtml', () => {
  it('has at least 30 XSS vectors to check', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(30);
  });

  it.each(vectors.map((v, i) => [i + 1, v]))('vector %i leaves nothing script-capable: %s', (_i, vector) => {
    const out = sanitizeMailHtml(`<p>before</p>${vector}<p>after</p>`);
    expect(findScriptCapableMarkup(out)).toEqual([]);
    expect(out).toContain('before');
  });

  it('leaves nothing script-capable when every vector is in one document', () => {
    expect(findScriptCapableMarkup(sanitizeMailHtml(vectors.join('\n')))).toEqual([]);
  });

  it('the checker itself flags what it must', () => {
    expect(findScriptCapableMarkup('<script>x</script>')).not.toEqual([]);
    expect(findScriptCapableMarkup('<img src="x" onerror="y">')).not.toEqual([]);
    expect(findScriptCapableMarkup('<a href="java&#9;script:x">')).not.toEqual([]);
    expect(findScriptCapableMarkup('<div style="width:expr/**/ession(x)">')).not.toEqual([]);
    expect(findScriptCapableMarkup('<style>@im\\port "x";</style>')).not.toEqual([]);
    expect(findScriptCapableMarkup('<img src="https://t.test/p.gif">')).not.toEqual([]);
    expect(findScriptCapableMarkup('<p style="color:red">ok</p>')).toEqual([]);
  });

  it('keeps ordinary mail formatting', () => {
    const html = '<table width="100%" cellpadding="0"><tr><td style="color:#333;font-family:Arial" align="center"><b>Hi</b> <a href="https://example.test/x">link</a></td></tr></table>';
    const out = sanitizeMailHtml(html);
    expect(out).toContain('<table width="100%" cellpadding="0">');
    expect(out).toContain('style="color:#333;font-family:Arial"');
    expect(out).toContain('href="https://example.test/x"');
    expect(out).toContain('rel="noopener noreferrer nofollow"');
  });

  it('holds back remote images behind a marker and keeps their address for the client', () => {
    const out = sanitizeMailHtml('<img src="https://t.test/pixel.gif" alt="p"><img src="//cdn.test/a.png">');
    expect(out).not.toMatch(/\ssrc=/);
    expect(out).toContain(`${REMOTE_SRC}="https://t.test/pixel.gif"`);
    expect(out).toContain(`${REMOTE_SRC}="https://cdn.test/a.png"`);
    expect(out.match(new RegExp(REMOTE_MARKER + '(?!-)', 'g'))?.length).toBe(2);
  });

  it('holds back remote CSS backgrounds but keeps the rest of the style', () => {
    const out = sanitizeMailHtml('<div style="color:red;background:url(https://t.test/bg.png) no-repeat">x</div><table background="http://t.test/t.png"><tr><td>x</td></tr></table>');
    expect(out).toContain('style="color:red;background:none no-repeat"');
    expect(out).toContain('data-pushmail-style="color:red;background:url(https://t.test/bg.png) no-repeat"');
    expect(out).toContain('data-pushmail-background="http://t.test/t.png"');
    expect(findScriptCapableMarkup(out)).toEqual([]);
  });

  // Issue 14: CSS that loads a remote image without reading as `url(//…)` in plain text.
  it.each([
    ["image-set('https://t.test/a.png' 1x)"],
    ['-webkit-image-set(url(//t.test/a.png) 1x)'],
    ["image-set('a.png' 1x, '//t.test/b.png' 2x)"],
    ['u\\72l(//t.test/a.png)'],
    ['url(\\68ttps://t.test/a.png)'],
    ['url(http:t.test/a.png)'],
    ['URL(HTTPS://t.test/a.png)'],
    ['\\000075rl(//t.test/a.png)'],
    ['url(\\5c\\5c t.test/a.png)'],
    ["url('ht\\9tps://t.test/a.png')"],
    ['u/**/rl(//t.test/a.png)'],
  ])('holds back the remote image in background:%s', (value) => {
    const out = sanitizeMailHtml(`<div style="color:red;background:${value}">x</div>`);
    expect(out).toContain(REMOTE_MARKER);
    expect(out).toContain('data-pushmail-style="color:red;background:');
    expect(out).not.toMatch(/ style="[^"]*t\.test/);
    expect(findScriptCapableMarkup(out)).toEqual([]);
  });

  it('the checker flags remote CSS that was not held back', () => {
    expect(findScriptCapableMarkup('<p style="background:image-set(\'//t.test/a.png\' 1x)">x</p>')).not.toEqual([]);
    expect(findScriptCapableMarkup('<p style="background:u\\72l(//t.test/a.png)">x</p>')).not.toEqual([]);
    expect(findScriptCapableMarkup('<style>p{background:url(http:t.test/a.png)}</style>')).not.toEqual([]);
    expect(findScriptCapableMarkup('<style>a[href^="http://"]{color:red}</style>')).toEqual([]);
  });

  it('keeps local url()s and selectors that mention addresses', () => {
    const out = sanitizeMailHtml('<style>a[href^="https://"]{color:red} p{background:url(bg.png)}</style><p>x</p>');
    expect(out).toContain('a[href^="https://"]{color:red} p{background:url(bg.png)}');
    expect(out).not.toContain(REMOTE_MARKER);
  });

  it('rewrites cid: images through the resolver and drops unknown ones', () => {
    const out = sanitizeMailHtml('<img src="cid:logo@x"><img src="cid:missing@x">', {
      resolveCid: (cid) => (cid === 'logo@x' ? '/api/accounts/a/messages/INBOX/1/parts/2' : null),
    });
    expect(out).toContain('<img src="/api/accounts/a/messages/INBOX/1/parts/2" />');
    expect(out).toContain('<img />');
  });

  it('keeps <style> blocks with CSS defused, including inside <head>', () => {
    const out = sanitizeMailHtml('<html><head><title>T</title><style type="text/css">p{color:red} .x{width:expression(alert(1))} @import url(http://x.test/a.css);</style></head><body><p>hi</p></body></html>');
    expect(out).toContain('<style>');
    expect(out).toContain('p{color:red}');
    expect(out).not.toMatch(/expression\(/i);
    expect(out).not.toContain('@import');
    expect(out).not.toContain('T<');
    expect(findScriptCapableMarkup(out)).toEqual([]);
  });

  it('allows inline data: images but not other data: URLs', () => {
    const png = 'data:image/png;base64,iVBORw0KGgo=';
    expect(sanitizeMailHtml(`<img src="${png}">`)).toContain(png);
    expect(sanitizeMailHtml('<img src="data:image/svg+xml;base64,PHN2Zz4=">')).not.toContain('data:');
  });
});
