/**
 * Neutralizes CSS from mail: style attributes and <style> blocks. Detection runs on a normalized
 * copy (comments removed, escapes decoded, whitespace dropped) because `expr/**\/ession(`,
 * `\65xpression(` and `java\73cript:` are what filters that match raw text miss.
 */

const DANGEROUS = /expression\(|javascript:|vbscript:|livescript:|@import|behavior:|-moz-binding|binding:|url\(['"]?data:(?!image\/(?:png|gif|jpe?g|webp|bmp)[;,])/;
const REMOTE_URL = /url\(\s*(['"]?)\s*(?:https?:)?\/\/[^)]*\)/gi;

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
  REMOTE_URL.lastIndex = 0;
  if (!REMOTE_URL.test(css)) return { css, remote: false };
  return { css: css.replace(REMOTE_URL, 'none'), remote: true, withRemote: css };
}

export function isDangerous(css: string): boolean {
  return DANGEROUS.test(normalizeForDetection(css));
}

function normalizeForDetection(css: string): string {
  return decodeCss(css)
    .replace(/[\s\u0000-\u001f\u007f]+/g, '')
    .toLowerCase();
}

/** Removes comments and decodes CSS escapes (`\6a`, `\j`). */
function decodeCss(css: string): string {
  return css
    .replace(/\/\*[\s\S]*?(?:\*\/|$)/g, '')
    .replace(/\\([0-9a-fA-F]{1,6})[ \t\n\r\f]?|\\([^\n\r\f0-9a-fA-F])/g, (_m, hex: string | undefined, ch: string | undefined) => {
      if (hex === undefined) return ch ?? '';
      const code = parseInt(hex, 16);
      return code === 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff) ? '\ufffd' : String.fromCodePoint(code);
    })
    .replace(/\u0000/g, '');
}

const spaced = (word: string) => word.split('').map((c) => c.replace(/[-:@(]/, '\\$&')).join('\\s*');
const DEFUSE: Array<[RegExp, string]> = [
  [new RegExp(`${spaced('@import')}[^;]*;?`, 'gi'), ''],
  [new RegExp(spaced('expression('), 'gi'), 'x-blocked('],
  [new RegExp(`${spaced('javascript:')}|${spaced('vbscript:')}|${spaced('livescript:')}`, 'gi'), 'blocked:'],
  [new RegExp(`${spaced('-moz-binding')}|${spaced('binding:')}|${spaced('behavior:')}`, 'gi'), 'x-blocked:'],
  [/url\(\s*['"]?\s*data:(?!image\/(?:png|gif|jpe?g|webp|bmp)[;,])[^)]*\)/gi, 'none'],
];

function defuse(css: string): string {
  let out = css;
  for (const [pattern, replacement] of DEFUSE) out = out.replace(pattern, replacement);
  return out;
}
