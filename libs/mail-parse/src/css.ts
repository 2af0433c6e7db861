/**
 * Neutralizes CSS from mail: style attributes and <style> blocks. Detection runs on a normalized
 * copy (comments removed, escapes decoded, whitespace dropped) because `expr/**\/ession(`,
 * `\65xpression(` and `java\73cript:` are what filters that match raw text miss.
 *
 * Everything here is linear in the input: mail is written by strangers, and one regex that
 * backtracks on `url(` without its `)` stalled a parser thread for minutes (issue 14). Patterns
 * are either anchored literals or scanners that never look at a character twice.
 */

const DANGEROUS = /expression\(|javascript:|vbscript:|livescript:|@import|behavior:|-moz-binding|binding:|url\(['"]?data:(?!image\/(?:png|gif|jpe?g|webp|bmp)[;,])/;

export interface NeutralizedCss {
  css: string;
  /** The CSS loads something from the network (a tracking pixel, a background image). */
  remote: boolean;
  /** `css` with remote url()s left in, for a client that chooses to load remote content. */
  withRemote?: string;
}

export function neutralizeCss(input: string): NeutralizedCss {
  let css = input;
  if (isDangerous(css)) {
    css = defuse(decodeCss(css));
    // Defusing works on decoded text; if something still reads as dangerous, keep nothing.
    if (isDangerous(css)) css = '';
  }
  // `<` is the only character that can end a <style> element early; escaped, it means the same in CSS.
  css = css.replace(/</g, '\\3c ');
  const held = replaceRemoteLoads(css);
  const leftover = looksRemote(held.css);
  if (!held.replaced && !leftover) return { css, remote: false };
  // What the tokenizer did not see but still reads as a remote address once comments and escapes
  // are gone (`u/**/rl(//x)`, which browsers do not load either) is not worth a second guess: the
  // CSS waits, whole, until the reader allows remote content.
  return { css: leftover ? '' : held.css, remote: true, withRemote: css };
}

export function isDangerous(css: string): boolean {
  return DANGEROUS.test(normalizeForDetection(css));
}

function normalizeForDetection(css: string): string {
  return dropSpaceAndControls(decodeCss(css)).toLowerCase();
}

const utf16 = new TextDecoder('utf-16le');

/**
 * What `.replace(/[\s\u0000-\u001f\u007f]+/g, '')` does, into a preallocated buffer: V8's replace
 * slows down tenfold past a few hundred thousand matches (1 MB of `e x p r e s s i o n`).
 */
function dropSpaceAndControls(text: string): string {
  const out = new Uint16Array(text.length);
  let k = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || (c >= 0xa0 && isUnicodeSpace(c))) continue;
    out[k++] = c;
  }
  return k === text.length ? text : utf16.decode(out.subarray(0, k));
}

/** The characters above U+007F that `\s` matches. */
function isUnicodeSpace(c: number): boolean {
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/**
 * On normalized CSS: an opening parenthesis, optionally a quote, then an address on another host.
 * Absolute `http:host/x` counts (URL parsing adds the slashes), and so do backslashes, which URL
 * parsing treats as slashes for http(s) bases such as the reader's page.
 */
const REMOTE_AFTER_PAREN = /\(['"]?(?:https?:|[/\\]{2})/;

function looksRemote(css: string): boolean {
  return REMOTE_AFTER_PAREN.test(normalizeForDetection(css));
}

/** Removes comments and decodes CSS escapes (`\6a`, `\j`). */
function decodeCss(css: string): string {
  return css
    .replace(/\/\*[\s\S]*?(?:\*\/|$)/g, '')
    .replace(/\\([0-9a-fA-F]{1,6})[ \t\n\r\f]?|\\([^\n\r\f0-9a-fA-F])/g, (_m, hex: string | undefined, ch: string | undefined) => {
      if (hex === undefined) return ch ?? '';
      return codePointToString(parseInt(hex, 16));
    })
    .replace(/\u0000/g, '');
}

function codePointToString(code: number): string {
  return code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff) ? '\ufffd' : String.fromCodePoint(code);
}

const spaced = (word: string) => word.split('').map((c) => c.replace(/[-:@(]/, '\\$&')).join('\\s*');
const DEFUSE: Array<[RegExp, string]> = [
  [new RegExp(`${spaced('@import')}[^;]*;?`, 'gi'), ''],
  [new RegExp(spaced('expression('), 'gi'), 'x-blocked('],
  [new RegExp(`${spaced('javascript:')}|${spaced('vbscript:')}|${spaced('livescript:')}`, 'gi'), 'blocked:'],
  [new RegExp(`${spaced('-moz-binding')}|${spaced('binding:')}|${spaced('behavior:')}`, 'gi'), 'x-blocked:'],
  // The closing `)` is optional: required, every `url(data:` without one would rescan to the end.
  [/url\(\s*(?:['"]\s*)?data:(?!image\/(?:png|gif|jpe?g|webp|bmp)[;,])[^)]*\)?/gi, 'none'],
];

function defuse(css: string): string {
  let out = css;
  for (const [pattern, replacement] of DEFUSE) out = out.replace(pattern, replacement);
  return out;
}

/** Functions whose arguments (strings included) the browser loads as images. */
function isLoader(name: string): boolean {
  return name === 'url' || name === 'src' || name === 'image' || name.endsWith('image-set') || name.endsWith('cross-fade');
}

/** Functions whose value is only known in the browser: inside a loader they may name a remote address. */
const OPAQUE = new Set(['var', 'attr', 'env']);

/** A decoded URL that loads from another host. Tabs and newlines are dropped by URL parsing, as is leading C0/space. */
export function isRemoteCssUrl(decoded: string): boolean {
  let url = '';
  for (let i = 0; i < decoded.length && url.length < 8; i++) {
    const c = decoded.charCodeAt(i);
    if (c === 0x09 || c === 0x0a || c === 0x0d) continue;
    if (!url && (c <= 0x20 || c === 0x22 || c === 0x27)) continue;
    url += decoded[i].toLowerCase();
  }
  return /^(?:https?:|[/\\]{2})/.test(url);
}

/** The outermost loader function the tokenizer is inside: the only one that can be replaced. */
interface Loader {
  start: number;
  /** Parenthesis depth inside it. */
  depth: number;
  remote: boolean;
}

const isHex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c;
const isNewline = (c: number) => c === 0x0a || c === 0x0d || c === 0x0c;
const isNameChar = (c: number) =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c >= 0x80;

/**
 * A one-pass CSS tokenizer (CSS Syntax 3, as far as loading goes) that replaces every function
 * that would load from another host with `none`: `url(…)` however it is escaped or cased,
 * `image-set("…")`, `-webkit-image-set(url(…))`, `src(…)`. A loader nested in another is replaced
 * with its outermost loader, so `image-set(url(//x) 1x)` becomes `none`, not `image-set(none 1x)`.
 * Unclosed functions run to the end of the input, as they do in the browser.
 */
function replaceRemoteLoads(css: string): { css: string; replaced: boolean } {
  const ranges: Array<[number, number]> = [];
  // Only a depth count and the outermost loader are kept, not a stack of frames: 1 MB of `((((`
  // would otherwise be a million objects.
  let depth = 0;
  let loader: Loader | undefined;
  const n = css.length;
  let i = 0;

  /** Decodes the escape at `i` (a backslash); returns the text and the index after it. */
  const escape = (at: number): [string, number] => {
    let j = at + 1;
    if (j >= n) return ['\ufffd', j];
    if (!isHex(css.charCodeAt(j))) return [css[j], j + 1];
    const hexStart = j;
    while (j < n && j - hexStart < 6 && isHex(css.charCodeAt(j))) j++;
    const text = codePointToString(parseInt(css.slice(hexStart, j), 16));
    if (j < n && isSpace(css.charCodeAt(j))) j += css[j] === '\r' && css[j + 1] === '\n' ? 2 : 1;
    return [text, j];
  };
  /** A remote address found at [start, end): the outermost loader around it goes, or else the address itself. */
  const remoteAt = (start: number, end: number) => {
    if (loader) loader.remote = true;
    else ranges.push([start, end]);
  };
  /** Reads a string from the quote at `i`; only its first characters are kept, which is all isRemoteCssUrl reads. */
  const readString = (at: number): [string, number] => {
    const quote = css.charCodeAt(at);
    let j = at + 1;
    let value = '';
    while (j < n) {
      const c = css.charCodeAt(j);
      if (c === quote) return [value, j + 1];
      if (isNewline(c)) return [value, j]; // a bad string ends at the line break
      if (c === 0x5c) {
        if (j + 1 < n && isNewline(css.charCodeAt(j + 1))) {
          j += css[j + 1] === '\r' && css[j + 2] === '\n' ? 3 : 2;
          continue;
        }
        const [text, next] = escape(j);
        if (value.length < 16) value += text;
        j = next;
        continue;
      }
      if (value.length < 16) value += css[j];
      j++;
    }
    return [value, n];
  };

  while (i < n) {
    const c = css.charCodeAt(i);
    if (c === 0x2f && css.charCodeAt(i + 1) === 0x2a) {
      const close = css.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
    } else if (c === 0x22 || c === 0x27) {
      const start = i;
      const [value, next] = readString(i);
      i = next;
      if (loader && isRemoteCssUrl(value)) remoteAt(start, i);
    } else if (isNameChar(c) || (c === 0x5c && i + 1 < n && !isNewline(css.charCodeAt(i + 1)))) {
      const start = i;
      let name = '';
      while (i < n) {
        const d = css.charCodeAt(i);
        if (isNameChar(d)) {
          if (name.length < 32) name += css[i].toLowerCase();
          i++;
        } else if (d === 0x5c && i + 1 < n && !isNewline(css.charCodeAt(i + 1))) {
          const [text, next] = escape(i);
          if (name.length < 32) name += text.toLowerCase();
          i = next;
        } else break;
      }
      if (css.charCodeAt(i) !== 0x28) continue;
      i++;
      if (name === 'url') {
        let j = i;
        while (j < n && isSpace(css.charCodeAt(j))) j++;
        const q = css.charCodeAt(j);
        if (q !== 0x22 && q !== 0x27) {
          // An unquoted url token: everything up to `)` (or the end), escapes decoded.
          let value = '';
          while (j < n && css.charCodeAt(j) !== 0x29) {
            if (css.charCodeAt(j) === 0x5c) {
              const [text, next] = escape(j);
              if (value.length < 16) value += text;
              j = next;
            } else {
              if (value.length < 16) value += css[j];
              j++;
            }
          }
          i = Math.min(j + 1, n);
          if (isRemoteCssUrl(value)) remoteAt(start, i);
          continue;
        }
      }
      if (loader && OPAQUE.has(name)) loader.remote = true;
      depth++;
      if (!loader && isLoader(name)) loader = { start, depth, remote: false };
    } else if (c === 0x28) {
      depth++;
      i++;
    } else if (c === 0x29) {
      i++;
      if (depth === 0) continue;
      if (loader && loader.depth === depth) {
        if (loader.remote) ranges.push([loader.start, i]);
        loader = undefined;
      }
      depth--;
    } else {
      i++;
    }
  }
  // Unclosed functions end with the input; only the outermost loader can be marked.
  if (loader?.remote) ranges.push([loader.start, n]);
  if (!ranges.length) return { css, replaced: false };
  let out = '';
  let from = 0;
  for (const [start, end] of ranges) {
    out += css.slice(from, start) + 'none';
    from = end;
  }
  return { css: out + css.slice(from), replaced: true };
}
