/**
 * A structural pass over raw MIME: where each part's headers and body sit, which IMAP section
 * number it has, and what is wrong with it. It decodes nothing (postal-mime does that); it exists
 * because neither parser reports malformed input, and because clients fetch attachments by their
 * IMAP part number, which no parser computes.
 */

export interface MimeHeaderFields {
  contentType: string;
  params: Record<string, string>;
  disposition: string | null;
  encoding: string;
  contentId?: string;
}

export interface MimePart extends MimeHeaderFields {
  /** IMAP section number of a leaf (RFC 3501 §6.4.5); '' for a multipart or a message root. */
  partId: string;
  depth: number;
  headerStart: number;
  bodyStart: number;
  bodyEnd: number;
  children: MimePart[];
  /** The encapsulated message of a message/rfc822 part. */
  message?: MimePart;
}

export interface MimeScan {
  root: MimePart;
  /** End of the top-level header block (start of the blank line). */
  headerEnd: number;
  warnings: string[];
  /** The top-level header block holds bytes that are not valid UTF-8. */
  headerHas8bitNonUtf8: boolean;
}

/** Nesting past this depth is not descended into: deeper content stays inside its parent part. */
export const MAX_SCAN_DEPTH = 100;
/** Real mail nests a handful of levels; anything this deep is broken or hostile. */
const SUSPICIOUS_DEPTH = 30;
const LONG_HEADER_BYTES = 64 * 1024;
/** Encoding checks read the body as a string; beyond this size they are skipped. */
const MAX_ENCODING_CHECK_BYTES = 8 * 1024 * 1024;

const CR = 0x0d;
const LF = 0x0a;

export function scanMime(raw: Buffer): MimeScan {
  const warnings = new Set<string>();
  const state: ScanState = { raw, warnings, maxDepth: 0 };
  const { headerEnd, bodyStart, fields, has8bit, longHeader } = readHeaders(raw, 0, raw.length, warnings);
  if (longHeader) warnings.add(`a header field is longer than ${LONG_HEADER_BYTES / 1024} KB`);
  let headerHas8bitNonUtf8 = false;
  if (has8bit && !isUtf8(raw.subarray(0, headerEnd))) {
    headerHas8bitNonUtf8 = true;
    warnings.add('headers contain 8-bit bytes that are not UTF-8');
  }
  const root = buildPart(state, fields, 0, bodyStart, raw.length, 0, '', true);
  if (state.maxDepth > SUSPICIOUS_DEPTH) warnings.add(`MIME parts nested ${state.maxDepth} levels deep`);
  return { root, headerEnd, warnings: [...warnings], headerHas8bitNonUtf8 };
}

interface ScanState {
  raw: Buffer;
  warnings: Set<string>;
  maxDepth: number;
}

/**
 * Builds one part. `prefix` is the section number of the part that contains this one's body:
 * for a message root its children are numbered `prefix.N` (or `N` at the top), and a non-multipart
 * message body is `prefix.1` (or `1`).
 */
function buildPart(
  state: ScanState,
  fields: MimeHeaderFields,
  headerStart: number,
  bodyStart: number,
  bodyEnd: number,
  depth: number,
  ownId: string,
  isMessageRoot: boolean,
): MimePart {
  state.maxDepth = Math.max(state.maxDepth, depth);
  const part: MimePart = { ...fields, partId: '', depth, headerStart, bodyStart, bodyEnd, children: [] };
  const multipart = fields.contentType.startsWith('multipart/');
  if (multipart && depth < MAX_SCAN_DEPTH) {
    const boundary = fields.params.boundary;
    if (!boundary) {
      state.warnings.add(`${fields.contentType} without a boundary; read as text`);
      part.contentType = 'text/plain';
    } else {
      // Children of a top-level multipart are "N"; of a nested one or an encapsulated message's, "<own>.N".
      splitMultipart(state, part, boundary, ownId);
      return part;
    }
  }
  if (isMessageRoot) {
    part.partId = ownId ? `${ownId}.1` : '1';
  } else {
    part.partId = ownId;
  }
  if (part.contentType === 'message/rfc822' && depth < MAX_SCAN_DEPTH && !isEncodedTransfer(part.encoding)) {
    const inner = readHeaders(state.raw, bodyStart, bodyEnd, state.warnings);
    part.message = buildPart(state, inner.fields, bodyStart, inner.bodyStart, bodyEnd, depth + 1, part.partId, true);
  } else if (!multipart) {
    checkEncoding(state, part);
  }
  return part;
}

function isEncodedTransfer(encoding: string): boolean {
  return encoding === 'base64' || encoding === 'quoted-printable';
}

function splitMultipart(state: ScanState, part: MimePart, boundary: string, prefix: string): void {
  const { raw } = state;
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  const end = part.bodyEnd;
  let pos = part.bodyStart;
  let partStart = -1;
  let closed = false;
  let index = 0;
  const children: Array<{ start: number; end: number }> = [];
  while (pos < end) {
    const found = findDelimiter(raw, delimiter, pos, end);
    if (found < 0) break;
    const afterDelimiter = found + delimiter.length;
    const isClose = raw[afterDelimiter] === 0x2d && raw[afterDelimiter + 1] === 0x2d;
    const lineEnd = indexOfLf(raw, afterDelimiter, end);
    if (partStart >= 0) children.push({ start: partStart, end: trimLineBreakBefore(raw, found, partStart) });
    if (isClose) {
      closed = true;
      break;
    }
    partStart = lineEnd < 0 ? end : lineEnd + 1;
    pos = partStart;
  }
  if (!closed && partStart >= 0) {
    children.push({ start: partStart, end });
    state.warnings.add(`${part.contentType} ends without its closing boundary (truncated?)`);
  }
  if (children.length === 0) state.warnings.add(`${part.contentType} has no parts`);
  for (const child of children) {
    index++;
    const id = prefix ? `${prefix}.${index}` : String(index);
    const headers = readHeaders(raw, child.start, child.end, state.warnings, part.contentType === 'multipart/digest');
    if (headers.longHeader) state.warnings.add(`a header field is longer than ${LONG_HEADER_BYTES / 1024} KB`);
    part.children.push(buildPart(state, headers.fields, child.start, headers.bodyStart, child.end, part.depth + 1, id, false));
  }
}

/** A delimiter counts only at the start of a line, followed by "--", whitespace or the line end. */
function findDelimiter(raw: Buffer, delimiter: Buffer, from: number, end: number): number {
  let pos = from;
  while (pos < end) {
    const at = raw.indexOf(delimiter, pos);
    if (at < 0 || at + delimiter.length > end) return -1;
    const atLineStart = at === from || raw[at - 1] === LF;
    if (atLineStart) {
      const next = raw[at + delimiter.length];
      if (next === undefined || next === CR || next === LF || next === 0x2d || next === 0x20 || next === 0x09) return at;
    }
    pos = at + 1;
  }
  return -1;
}

/** The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1). */
function trimLineBreakBefore(raw: Buffer, at: number, min: number): number {
  let end = at;
  if (end > min && raw[end - 1] === LF) end--;
  if (end > min && raw[end - 1] === CR) end--;
  return end;
}

function indexOfLf(raw: Buffer, from: number, end: number): number {
  const at = raw.indexOf(LF, from);
  return at < 0 || at >= end ? -1 : at;
}

interface HeaderRead {
  fields: MimeHeaderFields;
  headerEnd: number;
  bodyStart: number;
  has8bit: boolean;
  longHeader: boolean;
}

/** Reads the header block starting at `start`: only the fields that shape the MIME tree. */
function readHeaders(raw: Buffer, start: number, end: number, warnings: Set<string>, digest = false): HeaderRead {
  let headerEnd = end;
  let bodyStart = end;
  let pos = start;
  // A part that starts with a blank line has no headers at all.
  if (raw[pos] === LF || (raw[pos] === CR && raw[pos + 1] === LF)) {
    headerEnd = pos;
    bodyStart = raw[pos] === LF ? pos + 1 : pos + 2;
  } else {
    while (pos < end) {
      const lf = raw.indexOf(LF, pos);
      if (lf < 0 || lf >= end) break;
      const next = lf + 1;
      if (raw[next] === LF) {
        headerEnd = next;
        bodyStart = next + 1;
        break;
      }
      if (raw[next] === CR && raw[next + 1] === LF) {
        headerEnd = next;
        bodyStart = next + 2;
        break;
      }
      pos = next;
    }
  }
  if (bodyStart > end) bodyStart = end;
  const block = raw.toString('latin1', start, headerEnd);
  let has8bit = false;
  for (let i = 0; i < block.length; i++) {
    if (block.charCodeAt(i) > 0x7f) {
      has8bit = true;
      break;
    }
  }
  const fields: MimeHeaderFields = { contentType: digest ? 'message/rfc822' : 'text/plain', params: {}, disposition: null, encoding: '7bit' };
  let longHeader = false;
  let contentTypeSeen = false;
  for (const line of unfold(block)) {
    if (line.length > LONG_HEADER_BYTES) longHeader = true;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    switch (name) {
      case 'content-type': {
        if (contentTypeSeen) break; // the first one wins, as in postal-mime
        contentTypeSeen = true;
        const parsed = parseStructuredValue(value);
        if (/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(parsed.value)) {
          fields.contentType = parsed.value;
        } else if (parsed.value) {
          warnings.add(`unparseable Content-Type "${truncate(parsed.value, 40)}"; read as text/plain`);
        }
        fields.params = parsed.params;
        break;
      }
      case 'content-disposition':
        fields.disposition = parseStructuredValue(value).value || null;
        break;
      case 'content-transfer-encoding':
        fields.encoding = value.toLowerCase().split(/[\s;(]/)[0] || '7bit';
        break;
      case 'content-id':
        fields.contentId = value;
        break;
    }
  }
  return { fields, headerEnd, bodyStart, has8bit, longHeader };
}

function* unfold(block: string): Generator<string> {
  let current = '';
  for (const line of block.split(/\r?\n/)) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && current) {
      current += line;
    } else {
      if (current) yield current;
      current = line;
    }
  }
  if (current) yield current;
}

/**
 * `value; a=b; c="d"` → lowercased value and params. RFC 2231 continuations (`name*0*=`) are
 * joined but not decoded: the scanner only needs boundary and charset, which are plain ASCII.
 */
export function parseStructuredValue(header: string): { value: string; params: Record<string, string> } {
  const params: Record<string, string> = {};
  const semicolon = header.indexOf(';');
  const value = stripComments(semicolon < 0 ? header : header.slice(0, semicolon)).trim().toLowerCase();
  if (semicolon < 0) return { value, params };
  const re = /;\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"?|([^;]*))/g;
  const continued: Record<string, string[]> = {};
  let m: RegExpExecArray | null;
  while ((m = re.exec(header.slice(semicolon)))) {
    const key = m[1].toLowerCase();
    const val = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? '').trim();
    const cont = /^(.+?)\*(\d+)\*?$/.exec(key);
    if (cont) {
      (continued[cont[1]] ??= [])[Number(cont[2])] = val;
    } else if (!(key in params)) {
      params[key.replace(/\*$/, '')] = val;
    }
  }
  for (const [key, parts] of Object.entries(continued)) if (!(key in params)) params[key] = parts.join('');
  return { value, params };
}

/**
 * Drops RFC 5322 comments (`(…)`, nested, with `\)` quoted) in one pass. An unclosed comment is
 * kept as text. It replaces `/\(.*?\)/g`, which rescanned to the end of the line from every `(`
 * of a header without `)`: 40 KB of `((((` took half a second.
 */
export function stripComments(text: string): string {
  if (!text.includes('(')) return text;
  let out = '';
  let depth = 0;
  let open = 0;
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && depth > 0) {
      i++;
    } else if (c === '(') {
      if (depth === 0) {
        out += text.slice(from, i);
        open = i;
      }
      depth++;
    } else if (c === ')' && depth > 0) {
      depth--;
      if (depth === 0) from = i + 1;
    }
  }
  return out + text.slice(depth > 0 ? open : from);
}

function checkEncoding(state: ScanState, part: MimePart): void {
  const length = part.bodyEnd - part.bodyStart;
  if (length <= 0 || length > MAX_ENCODING_CHECK_BYTES) return;
  if (part.encoding === 'base64') {
    const verdict = checkBase64(state.raw, part.bodyStart, part.bodyEnd);
    if (verdict) state.warnings.add(`part ${part.partId}: ${verdict}`);
  } else if (part.encoding === 'quoted-printable') {
    const body = state.raw.toString('latin1', part.bodyStart, part.bodyEnd);
    if (/=(?![0-9A-Fa-f]{2}|\r?\n|[ \t]*$)/m.test(body)) state.warnings.add(`part ${part.partId}: invalid quoted-printable escapes`);
  } else if (!['7bit', '8bit', 'binary', ''].includes(part.encoding)) {
    state.warnings.add(`part ${part.partId}: unknown Content-Transfer-Encoding "${truncate(part.encoding, 30)}"`);
  }
}

const enum Base64ByteKind {
  Invalid,
  Space,
  Digit,
  Pad,
}

/** One table lookup per byte is about three times faster than the range comparisons. */
const BASE64_BYTE_KIND = (() => {
  const table = new Uint8Array(256).fill(Base64ByteKind.Invalid);
  for (const b of [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0xa0]) table[b] = Base64ByteKind.Space;
  for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') table[c.charCodeAt(0)] = Base64ByteKind.Digit;
  table[0x3d] = Base64ByteKind.Pad;
  return table;
})();

/**
 * One pass over the bytes, without building strings: every message's base64 parts go through
 * here. Whitespace is what JavaScript's \s matches in Latin-1 (tab to CR, space, NBSP).
 */
export function checkBase64(raw: Buffer, start: number, end: number): string | undefined {
  let digits = 0;
  let firstPad = -1;
  for (let i = start; i < end; i++) {
    const kind = BASE64_BYTE_KIND[raw[i]];
    if (kind === Base64ByteKind.Space) continue;
    if (kind === Base64ByteKind.Invalid) return 'invalid characters in base64 body';
    if (kind === Base64ByteKind.Pad && firstPad < 0) firstPad = digits;
    digits++;
  }
  if (digits % 4 !== 0 || (firstPad >= 0 && firstPad < digits - 2)) return 'base64 body is truncated or damaged';
  return undefined;
}

function truncate(value: string, max: number): string {
  return value.length > max ? `${value.slice(0, max)}…` : value;
}

function isUtf8(bytes: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Leaves in document order, with message/rfc822 parts listed before their own contents. */
export function flattenParts(root: MimePart): MimePart[] {
  const out: MimePart[] = [];
  const walk = (part: MimePart) => {
    if (part.children.length) {
      part.children.forEach(walk);
      return;
    }
    out.push(part);
    if (part.message) walk(part.message);
  };
  walk(root);
  return out;
}
