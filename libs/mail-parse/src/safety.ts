import { decodeEntities } from './html-text';

const FORBIDDEN_TAGS = new Set([
  'script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'form', 'input', 'button', 'textarea', 'select',
  'meta', 'base', 'link', 'svg', 'math', 'video', 'audio', 'source', 'template', 'noscript', 'isindex', 'marquee',
]);
const FORBIDDEN_ATTRIBUTES = new Set(['srcdoc', 'formaction', 'action', 'xlink:href', 'http-equiv', 'data', 'codebase']);
const URL_ATTRIBUTES = new Set(['href', 'src', 'background', 'cite', 'poster', 'data-pushmail-src', 'data-pushmail-background']);

/**
 * An independent check of sanitized HTML (it shares no code with the sanitizer's decisions): lists
 * everything in it that could run script or load remote content without the client's consent.
 * Empty means safe. Used by the tests over the XSS vectors and the corpus.
 */
export function findScriptCapableMarkup(html: string): string[] {
  const problems: string[] = [];
  for (const tag of tags(html)) {
    const name = tag.name.toLowerCase();
    if (FORBIDDEN_TAGS.has(name)) problems.push(`<${name}> element`);
    if (tag.closing) continue;
    for (const attr of tag.attributes.matchAll(/([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g)) {
      const attrName = attr[1].toLowerCase();
      const value = decodeEntities(attr[2] ?? attr[3] ?? attr[4] ?? '');
      if (attrName.startsWith('on')) problems.push(`${attrName} attribute on <${name}>`);
      if (FORBIDDEN_ATTRIBUTES.has(attrName)) problems.push(`${attrName} attribute on <${name}>`);
      if (URL_ATTRIBUTES.has(attrName) && badUrl(value)) problems.push(`${attrName}="${value.slice(0, 60)}" on <${name}>`);
      if ((attrName === 'src' || attrName === 'background') && /^\s*(?:https?:)?\/\//i.test(value)) problems.push(`remote ${attrName} not held back on <${name}>`);
      if (attrName === 'style' || attrName === 'data-pushmail-style') problems.push(...badCss(value).map((p) => `${p} in style on <${name}>`));
      if (attrName === 'style' && remoteCss(value)) problems.push(`remote CSS not held back in style on <${name}>`);
    }
  }
  for (const block of html.matchAll(/<style\b[^>]*>([\s\S]*?)<\/style>/gi)) {
    problems.push(...badCss(block[1]).map((p) => `${p} in <style>`));
    if (block[1].includes('<')) problems.push('raw < in <style>');
    if (remoteCss(block[1])) problems.push('remote CSS not held back in <style>');
  }
  return problems;
}

/**
 * Each tag as `/<\/?([a-zA-Z][^\s/>]*)([^>]*)>/g` would match it, found with indexOf: the regex
 * rescanned to the end from every `<` when no `>` followed.
 */
function* tags(html: string): Generator<{ name: string; closing: boolean; attributes: string }> {
  let at = html.indexOf('<');
  while (at >= 0) {
    const closing = html[at + 1] === '/';
    const nameStart = closing ? at + 2 : at + 1;
    if (!/[a-zA-Z]/.test(html[nameStart] ?? '')) {
      at = html.indexOf('<', at + 1);
      continue;
    }
    const end = html.indexOf('>', nameStart);
    if (end < 0) return;
    let nameEnd = nameStart + 1;
    while (nameEnd < end && !/[\s/]/.test(html[nameEnd])) nameEnd++;
    yield { name: html.slice(nameStart, nameEnd), closing, attributes: html.slice(nameEnd, end) };
    at = html.indexOf('<', end + 1);
  }
}

function badUrl(value: string): boolean {
  const compact = value.replace(/[\s\u0000-\u001f\u007f]+/g, '').toLowerCase();
  return /^(?:javascript|vbscript|livescript):/.test(compact) || /^data:(?!image\/(?:png|gif|jpe?g|webp|bmp)[;,])/.test(compact);
}

/**
 * CSS that would load from another host: after comments and escapes, an opening parenthesis or a
 * quote inside an image-set() followed by an absolute or protocol-relative address.
 */
function remoteCss(css: string): boolean {
  const plain = plainCss(css);
  if (/\(['"]?(?:https?:|[/\\]{2})/.test(plain)) return true;
  return plain.includes('image-set(') && /['"](?:https?:|[/\\]{2})/.test(plain);
}

function badCss(css: string): string[] {
  const plain = plainCss(css);
  const found: string[] = [];
  for (const needle of ['expression(', 'javascript:', 'vbscript:', '@import', '-moz-binding', 'behavior:']) if (plain.includes(needle)) found.push(needle);
  return found;
}

function plainCss(css: string): string {
  return css
    .replace(/\/\*[\s\S]*?(?:\*\/|$)/g, '')
    .replace(/\\([0-9a-fA-F]{1,6})\s?/g, (_m, hex: string) => String.fromCodePoint(Math.min(parseInt(hex, 16) || 0xfffd, 0x10ffff)))
    .replace(/\\(.)/g, '$1')
    .replace(/[\s\u0000-\u001f]+/g, '')
    .toLowerCase();
}
