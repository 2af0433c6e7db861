import sanitizeHtmlLib from 'sanitize-html';
import { neutralizeCss } from './css';

/** Marks an element whose remote content (image, background, CSS url()) was held back. */
export const REMOTE_MARKER = 'data-pushmail-remote';
/** Where a remote image's address waits until the client allows remote content. */
export const REMOTE_SRC = 'data-pushmail-src';
export const REMOTE_BACKGROUND = 'data-pushmail-background';
export const REMOTE_STYLE = 'data-pushmail-style';

export interface SanitizeOptions {
  /** Turns `cid:<content-id>` (without brackets) into a URL, or null when the message has no such part. */
  resolveCid?: (contentId: string) => string | null;
}

const ALLOWED_TAGS = [
  'a', 'abbr', 'address', 'article', 'aside', 'b', 'bdi', 'bdo', 'big', 'blockquote', 'br', 'caption', 'center', 'cite',
  'code', 'col', 'colgroup', 'dd', 'del', 'details', 'dfn', 'div', 'dl', 'dt', 'em', 'figcaption', 'figure', 'font', 'footer',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header', 'hr', 'i', 'img', 'ins', 'kbd', 'li', 'main', 'mark', 'nav', 'ol', 'p', 'pre',
  'q', 's', 'samp', 'section', 'small', 'span', 'strike', 'strong', 'style', 'sub', 'summary', 'sup', 'table', 'tbody', 'td',
  'tfoot', 'th', 'thead', 'time', 'tr', 'tt', 'u', 'ul', 'var', 'wbr',
];

const GLOBAL_ATTRIBUTES = [
  'style', 'class', 'title', 'dir', 'lang', 'align', 'valign', 'width', 'height', 'bgcolor', 'color', 'border', 'cellpadding',
  'cellspacing', 'colspan', 'rowspan', 'nowrap', 'face', 'size', 'span', 'start', 'type', 'summary', 'headers', 'scope',
  REMOTE_MARKER, REMOTE_BACKGROUND, REMOTE_STYLE,
];

/** Raw-text and hostile containers whose content must not leak into the body as text. */
const DROPPED_WITH_CONTENT = [
  'script', 'style', 'textarea', 'option', 'noscript', 'title', 'xml', 'template', 'iframe', 'frame', 'frameset', 'object',
  'embed', 'applet', 'noembed', 'noframes', 'svg', 'math', 'select',
];

const SAFE_DATA_IMAGE = /^data:image\/(?:png|gif|jpe?g|webp|bmp);base64,[a-z0-9+/=\s]*$/i;

/**
 * Sanitizes message HTML so nothing script-capable survives: an allowlist of tags and attributes,
 * URLs limited to http(s)/mailto/tel, CSS defused, remote content held back behind markers, and
 * `cid:` images pointed at the gateway's part URL.
 */
export function sanitizeMailHtml(html: string, options: SanitizeOptions = {}): string {
  const clean = sanitizeHtmlLib(html, {
    allowedTags: ALLOWED_TAGS,
    allowedAttributes: {
      '*': GLOBAL_ATTRIBUTES,
      a: ['href', 'target', 'rel'],
      img: ['src', 'alt', 'width', 'height', 'hspace', 'vspace', REMOTE_SRC],
      table: ['background'],
      td: ['background'],
      th: ['background'],
      col: ['width'],
      time: ['datetime'],
      q: ['cite'],
      blockquote: ['cite', 'type'],
      ol: ['reversed'],
      details: ['open'],
    },
    allowedSchemes: ['http', 'https', 'mailto', 'tel'],
    allowedSchemesByTag: { img: ['data'] },
    allowedSchemesAppliedToAttributes: ['href', 'src', 'cite', 'background', 'action', 'formaction', 'xlink:href', 'poster'],
    allowProtocolRelative: false,
    disallowedTagsMode: 'discard',
    nonTextTags: DROPPED_WITH_CONTENT,
    allowVulnerableTags: true, // <style> is kept on purpose; its CSS is defused below
    parseStyleAttributes: false,
    transformTags: { '*': (tagName, attribs) => ({ tagName, attribs: transformAttributes(tagName, attribs, options) }) },
  });
  return clean.replace(/<style\b[^>]*>([\s\S]*?)<\/style>/gi, (_m, css: string) => {
    const out = neutralizeCss(css);
    return out.remote
      ? `<style ${REMOTE_MARKER}="" ${REMOTE_STYLE}="${escapeAttribute(out.withRemote ?? '')}">${out.css}</style>`
      : `<style>${out.css}</style>`;
  });
}

function transformAttributes(tag: string, input: Record<string, string>, options: SanitizeOptions): Record<string, string> {
  const attribs: Record<string, string> = {};
  for (const [name, value] of Object.entries(input)) {
    // Markers come only from us: a message must not smuggle an address the client would later load.
    if (name.startsWith('data-pushmail-')) continue;
    attribs[name] = value;
  }
  // <style> keeps no attributes, so its defused CSS is the only thing that comes out of it.
  if (tag === 'style') return {};
  let remote = false;
  if (tag === 'img') {
    delete attribs.srcset;
    const src = (attribs.src ?? '').trim();
    delete attribs.src;
    if (/^cid:/i.test(src)) {
      const url = options.resolveCid?.(decodeURIComponentSafe(src.slice(4)));
      if (url) attribs.src = url;
    } else if (isRemote(src)) {
      attribs[REMOTE_SRC] = src.startsWith('//') ? `https:${src}` : src;
      remote = true;
    } else if (SAFE_DATA_IMAGE.test(src)) {
      attribs.src = src;
    }
  }
  if (attribs.background !== undefined) {
    const background = attribs.background.trim();
    delete attribs.background;
    if (isRemote(background)) {
      attribs[REMOTE_BACKGROUND] = background.startsWith('//') ? `https:${background}` : background;
      remote = true;
    }
  }
  if (attribs.style !== undefined) {
    const css = neutralizeCss(attribs.style);
    attribs.style = css.css;
    if (css.remote) {
      attribs[REMOTE_STYLE] = css.withRemote ?? '';
      remote = true;
    }
  }
  if (tag === 'a' && attribs.href) {
    attribs.target = '_blank';
    attribs.rel = 'noopener noreferrer nofollow';
  }
  if (remote) attribs[REMOTE_MARKER] = '';
  return attribs;
}

function isRemote(url: string): boolean {
  return /^(?:https?:)?\/\/[^/\s]/i.test(url);
}

function decodeURIComponentSafe(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
