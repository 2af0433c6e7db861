/**
 * Turns a message's sanitized HTML into the `srcdoc` of a sandboxed iframe. The fetcher already
 * removed everything script-capable and held remote content back behind `data-pushmail-*` markers
 * (libs/mail-parse). What only the reader can decide happens here: remote content comes back when
 * the user allows it, and the message's own parts (`cid:` images the fetcher pointed at the gateway)
 * load through the signed part links the reader passes as `authorizePartUrl` (never the client
 * token: nothing in the frame may carry it). The frame's own Content-Security-Policy is a second lock on both.
 */
export interface FramedMessage {
  srcdoc: string;
  /** How many elements had remote content (images, backgrounds, CSS) held back. */
  blockedRemote: number;
}

const REMOTE_MARKER = 'data-pushmail-remote';
const REMOTE_SRC = 'data-pushmail-src';
const REMOTE_BACKGROUND = 'data-pushmail-background';
const REMOTE_STYLE = 'data-pushmail-style';

export function frameMessageHtml(
  html: string,
  options: { gatewayOrigin: string; allowRemote: boolean; authorizePartUrl: (url: string) => string },
): FramedMessage {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  const resolve = (raw: string): URL | undefined => {
    try {
      return new URL(raw.trim(), options.gatewayOrigin);
    } catch {
      return undefined;
    }
  };
  const isWeb = (url: URL | undefined): url is URL => !!url && (url.protocol === 'https:' || url.protocol === 'http:');
  const isGatewayPart = (url: URL) => url.origin === options.gatewayOrigin && url.pathname.startsWith('/api/accounts/');

  // Anything that still carries a remote address outside the markers is held back the same way.
  for (const el of Array.from(doc.querySelectorAll('img[src], img[srcset], source, video, audio'))) {
    el.removeAttribute('srcset');
    const url = resolve(el.getAttribute('src') ?? '');
    el.removeAttribute('src');
    if (!url) continue;
    if (url.protocol === 'data:') el.setAttribute('src', url.href);
    else if (isGatewayPart(url)) el.setAttribute('src', options.authorizePartUrl(url.href));
    else if (isWeb(url)) {
      el.setAttribute(REMOTE_SRC, url.href);
      el.setAttribute(REMOTE_MARKER, '');
    }
  }

  const held = Array.from(doc.querySelectorAll(`[${REMOTE_MARKER}]`));
  for (const el of held) {
    if (!options.allowRemote) {
      if (el.tagName === 'IMG' && !el.getAttribute('alt')) el.setAttribute('alt', '[image]');
      continue;
    }
    const src = resolve(el.getAttribute(REMOTE_SRC) ?? '');
    if (isWeb(src)) el.setAttribute('src', src.href);
    const background = resolve(el.getAttribute(REMOTE_BACKGROUND) ?? '');
    if (isWeb(background)) el.setAttribute('background', background.href);
    const style = el.getAttribute(REMOTE_STYLE);
    if (style !== null) {
      if (el.tagName === 'STYLE') el.textContent = style;
      else el.setAttribute('style', style);
    }
  }

  // The fetcher defuses CSS url()s it cannot allow (e.g. to `blocked:`); dropping them here spares the
  // console a CSP report for every such reference.
  for (const el of Array.from(doc.querySelectorAll('[style]'))) el.setAttribute('style', dropUnloadableUrls(el.getAttribute('style') ?? ''));
  for (const el of Array.from(doc.querySelectorAll('style'))) el.textContent = dropUnloadableUrls(el.textContent ?? '');

  for (const a of Array.from(doc.querySelectorAll('a[href]'))) {
    a.setAttribute('target', '_blank');
    a.setAttribute('rel', 'noopener noreferrer');
  }

  const imgSrc = options.allowRemote ? `data: ${options.gatewayOrigin} http: https:` : `data: ${options.gatewayOrigin}`;
  // The parser moves a leading <style> into <head>; nothing else from there belongs in the frame.
  const styles = Array.from(doc.head.querySelectorAll('style'), (el) => el.outerHTML).join('');
  return { srcdoc: wrapDocument(styles + doc.body.innerHTML, imgSrc), blockedRemote: held.length };
}

/**
 * Replaces each `url(…)` whose address the frame could not load with `none`. One pass that reads
 * CSS as a browser does (strings, comments, an unclosed `url(` running to the end): the regex it
 * replaces, /url\(\s*(['"]?)(.*?)\1\s*\)/, rescanned from every `url(` without its `)`, and
 * 100 KB of them froze the tab.
 */
export function dropUnloadableUrls(css: string): string {
  const n = css.length;
  let out = '';
  let from = 0;
  let i = 0;
  const skipString = (at: number): number => {
    const quote = css[at];
    let j = at + 1;
    while (j < n && css[j] !== quote && css[j] !== '\n') j += css[j] === '\\' ? 2 : 1;
    return Math.min(j + 1, n);
  };
  while (i < n) {
    const c = css[i];
    if (c === '"' || c === "'") {
      i = skipString(i);
    } else if (c === '/' && css[i + 1] === '*') {
      const close = css.indexOf('*/', i + 2);
      i = close < 0 ? n : close + 2;
    } else if ((c === 'u' || c === 'U') && css.slice(i, i + 4).toLowerCase() === 'url(' && !/[\w-]/.test(css[i - 1] ?? '')) {
      let j = i + 4;
      while (j < n && /\s/.test(css[j])) j++;
      let url: string;
      if (css[j] === '"' || css[j] === "'") {
        const end = skipString(j);
        url = css.slice(j + 1, css[end - 1] === css[j] && end - 1 > j ? end - 1 : end);
        j = end;
      } else {
        const close = css.indexOf(')', j);
        url = css.slice(j, close < 0 ? n : close);
        j = close < 0 ? n : close;
      }
      // Whatever follows up to `)` belongs to the url() too (CSS calls it a bad url's remnants).
      const close = css.indexOf(')', j);
      const end = close < 0 ? n : close + 1;
      if (!/^(https?:|data:image\/)/i.test(url.trim())) {
        out += `${css.slice(from, i)}none`;
        from = end;
      }
      i = end;
    } else {
      i++;
    }
  }
  return from === 0 ? css : out + css.slice(from);
}

function wrapDocument(body: string, imgSrc: string): string {
  const csp = `default-src 'none'; img-src ${imgSrc}; media-src ${imgSrc}; style-src 'unsafe-inline'; font-src data:; form-action 'none'`;
  const head =
    `<meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${csp}">` +
    `<meta name="referrer" content="no-referrer"><base target="_blank">` +
    `<style>html{color-scheme:light}body{margin:16px;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2433;overflow-wrap:anywhere}` +
    `img{max-width:100%;height:auto}img[${REMOTE_MARKER}]{display:inline-block;min-width:24px;min-height:16px;background:#eef1f6;outline:1px dashed #b8c0cc;color:#667;font-size:12px}` +
    `table{max-width:100%}pre{white-space:pre-wrap;font:inherit;margin:0}blockquote{margin:0 0 0 .8em;padding-left:.8em;border-left:3px solid #d0d6e0;color:#555}</style>`;
  return `<!doctype html><html><head>${head}</head><body>${body}</body></html>`;
}

/** Plain text shown in the same kind of frame, so long lines and links behave alike. */
export function frameMessageText(text: string): string {
  const escaped = text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const linked = escaped.replace(/\bhttps?:\/\/[^\s<>"']+/g, (u) => `<a href="${u}" target="_blank" rel="noopener noreferrer">${u}</a>`);
  return wrapDocument(`<pre>${linked}</pre>`, 'data:');
}
