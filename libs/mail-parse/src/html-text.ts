const NAMED_ENTITIES: Record<string, string> = {
  nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", copy: '©', reg: '®', trade: '™', hellip: '…', mdash: '—',
  ndash: '–', lsquo: '‘', rsquo: '’', ldquo: '“', rdquo: '”', laquo: '«', raquo: '»', euro: '€', bull: '•', middot: '·',
  zwnj: '', zwj: '', shy: '',
};

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,8});/gi, (match, entity: string) => {
    if (entity[0] === '#') {
      const code = entity[1] === 'x' || entity[1] === 'X' ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
      return code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) ? String.fromCodePoint(code) : '';
    }
    return NAMED_ENTITIES[entity.toLowerCase()] ?? match;
  });
}

/**
 * Plain text from (already sanitized) HTML, for messages that have no text part: good enough for
 * a preview and a text view, not a renderer.
 */
export function htmlToText(html: string): string {
  return decodeEntities(
    html
      .replace(/<(style|script|head|title)\b[\s\S]*?<\/\1\s*>/gi, '')
      .replace(/<!--[\s\S]*?-->/g, '')
      .replace(/<br\s*\/?>/gi, '\n')
      .replace(/<\/(p|div|tr|li|h[1-6]|blockquote|pre|table|ul|ol|dl|dt|dd|section|article|header|footer)\s*>/gi, '\n')
      .replace(/<(td|th)\b[^>]*>/gi, '\t')
      .replace(/<[^>]*>/g, '')
      .replace(/[ \t\u00a0]+/g, ' ')
      .replace(/ ?\n ?/g, '\n')
      .replace(/\n{3,}/g, '\n\n'),
  ).trim();
}

/** What `\s` matches in a JavaScript regular expression. */
function isWhitespace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0xa0) return false;
  return (
    code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 ||
    code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff
  );
}

/** The first ~`max` characters of text with whitespace collapsed, cut at a word boundary when one is near. */
export function makePreview(text: string, max = 200): string {
  // One pass that stops as soon as more than `max` characters are collected: every message gets a
  // preview, and the regex replace over its first 1,600 characters this replaced took 8.5 µs per
  // bench message against 2.2 µs.
  let collapsed = '';
  let runStart = -1;
  let pendingSpace = false;
  for (let i = 0; i < text.length && collapsed.length <= max; i++) {
    if (isWhitespace(text.charCodeAt(i))) {
      if (runStart >= 0) {
        collapsed += text.slice(runStart, i);
        runStart = -1;
      }
      pendingSpace = collapsed.length > 0;
      continue;
    }
    if (runStart < 0) {
      if (pendingSpace) collapsed += ' ';
      pendingSpace = false;
      runStart = i;
    }
    if (collapsed.length + (i + 1 - runStart) > max) {
      collapsed += text.slice(runStart, i + 1);
      runStart = -1;
      break;
    }
  }
  if (runStart >= 0) collapsed += text.slice(runStart);
  if (collapsed.length <= max) return collapsed;
  let cut = collapsed.slice(0, max);
  const space = cut.lastIndexOf(' ');
  if (space > max * 0.8) cut = cut.slice(0, space);
  // Never leave half a surrogate pair at the end.
  if (/[\ud800-\udbff]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut.trimEnd()}…`;
}
