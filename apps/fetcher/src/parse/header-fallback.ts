import type { Address } from '@pushmail/contracts';
import { MailContent, decodeBytes } from '@pushmail/mail-parse';

/** The parse warning of a message whose parse ran past PARSE_TIMEOUT_MS. */
export const PARSE_TIMEOUT_WARNING = 'parse_timeout';

/**
 * How much of a timed-out message is read for its header block. This runs on the fetcher's main
 * thread, which must never stall: the input is bounded and every step below is a single pass.
 */
export const FALLBACK_HEADER_BYTES = 64 * 1024;
// The same caps as the full parser, so a fallback message is never larger than a parsed one.
const MAX_SUBJECT_CHARS = 2000;
const MAX_ADDRESSES = 1000;
const MAX_REFERENCES = 100;
const MAX_ID_CHARS = 998;
const MAX_DATE_CHARS = 200;

const FIELDS = new Set(['subject', 'from', 'to', 'cc', 'date', 'message-id', 'in-reply-to', 'references']);
/** Address fields may repeat (each occurrence adds recipients); the others keep their first value. */
const LISTS = new Set(['to', 'cc']);

/**
 * The headers of a message whose full parse timed out: subject, addresses, date and ids, with
 * no body, no attachments and `parseWarnings: ['parse_timeout']`. Deliberately not the mail-parse
 * library: whatever made the full parse slow must not get a second chance on the main thread.
 */
export function headerOnlyContent(raw: Uint8Array): MailContent {
  const fields = headerFields(raw.subarray(0, Math.min(raw.byteLength, FALLBACK_HEADER_BYTES)));
  const subject = decodeWords(fields.get('subject') ?? '').trim();
  const content: MailContent = {
    messageId: firstId(fields.get('message-id')),
    subject: subject.slice(0, MAX_SUBJECT_CHARS),
    from: addresses(fields.get('from') ?? '')[0] ?? null,
    to: addresses(fields.get('to') ?? ''),
    cc: addresses(fields.get('cc') ?? ''),
    date: isoDate(fields.get('date')),
    text: '',
    html: null,
    preview: '',
    attachments: [],
    parseWarnings: [PARSE_TIMEOUT_WARNING],
  };
  const inReplyTo = firstId(fields.get('in-reply-to'));
  if (inReplyTo) content.inReplyTo = inReplyTo;
  let refs = messageIds(fields.get('references') ?? '');
  // As the full parser does: the thread root first, then the nearest parents.
  if (refs.length > MAX_REFERENCES) refs = [refs[0], ...refs.slice(refs.length - MAX_REFERENCES + 1)];
  if (refs.length) content.references = refs;
  return content;
}

/** The wanted fields of the header block (up to the first empty line), unfolded. */
function headerFields(bytes: Uint8Array): Map<string, string> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = buf.length;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] !== 0x0a) continue;
    if (buf[i + 1] === 0x0a || (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a)) {
      end = i;
      break;
    }
  }
  const block = decodeHeaderBytes(buf.subarray(0, end));
  const fields = new Map<string, string>();
  let name = '';
  let value = '';
  const flush = () => {
    if (!FIELDS.has(name)) return;
    const before = fields.get(name);
    if (before === undefined) fields.set(name, value.trim());
    else if (LISTS.has(name)) fields.set(name, `${before}, ${value.trim()}`);
  };
  for (let start = 0; start <= block.length; ) {
    let next = block.indexOf('\n', start);
    if (next < 0) next = block.length;
    const line = block.slice(start, block[next - 1] === '\r' ? next - 1 : next);
    start = next + 1;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      value += line;
      continue;
    }
    flush();
    const colon = line.indexOf(':');
    name = colon > 0 ? line.slice(0, colon).trim().toLowerCase() : '';
    value = colon > 0 ? line.slice(colon + 1) : '';
  }
  flush();
  return fields;
}

/** UTF-8 when the bytes are valid UTF-8 (RFC 6532), else Latin-1 (every byte maps to a character). */
function decodeHeaderBytes(bytes: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

// Bounded runs that cannot contain the `?` that ends them: each candidate is a single pass.
const ENCODED_WORD = /=\?([^?\s]{1,64})\?([BbQq])\?([^?\s]{0,2000})\?=/g;

/** RFC 2047 encoded words; adjacent words of one charset are joined before decoding (split characters). */
export function decodeWords(value: string): string {
  if (!value.includes('=?')) return value;
  let out = '';
  let last = 0;
  let run: { charset: string; chunks: Buffer[] } | null = null;
  const flushRun = () => {
    if (run) out += decodeBytes(Buffer.concat(run.chunks), charsetLabel(run.charset));
    run = null;
  };
  for (const match of value.matchAll(ENCODED_WORD)) {
    const index = match.index ?? 0;
    const gap = value.slice(last, index);
    // Whitespace between two encoded words is folding, not text.
    if (!run || gap.trim() !== '') {
      flushRun();
      out += gap;
    }
    const [, charset, encoding, text] = match;
    const bytes = encoding.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : qDecode(text);
    if (run && run.charset.toLowerCase() === charset.toLowerCase()) run.chunks.push(bytes);
    else {
      flushRun();
      run = { charset, chunks: [bytes] };
    }
    last = index + match[0].length;
  }
  flushRun();
  return out + value.slice(last);
}

/** `utf-8*en` (RFC 2231 language suffix) names the charset `utf-8`. */
function charsetLabel(charset: string): string {
  const star = charset.indexOf('*');
  return star < 0 ? charset : charset.slice(0, star);
}

function qDecode(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const hex = c === '=' ? text.slice(i + 1, i + 3) : '';
    if (hex.length === 2 && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(c === '_' ? 0x20 : c.charCodeAt(0) & 0xff);
  }
  return Buffer.from(bytes);
}

/** An address list in one pass: quoted strings, comments and `<…>` kept apart; group names dropped. */
export function addresses(value: string): Address[] {
  const out: Address[] = [];
  let phrase = '';
  /** `bob@example.test (Bob)`: a comment names the address when nothing else does. */
  let remark = '';
  let angle: string | null = null;
  let inAngle = false;
  let quoted = false;
  let comment = 0;
  const flush = () => {
    const text = phrase.replace(/\s+/g, ' ').trim();
    const note = remark.replace(/\s+/g, ' ').trim();
    const address = angle?.trim();
    phrase = '';
    remark = '';
    angle = null;
    if (out.length >= MAX_ADDRESSES) return;
    if (address) out.push({ name: decodeWords(text || note), address });
    else if (text.includes('@') && !text.includes(' ')) out.push({ name: decodeWords(note), address: text });
    else if (text) out.push({ name: decodeWords(text), address: '' });
  };
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === '\\' && i + 1 < value.length) phrase += value[++i];
      else if (c === '"') quoted = false;
      else phrase += c;
    } else if (comment > 0) {
      if (c === '\\' && i + 1 < value.length) remark += value[++i];
      else if (c === '(') comment++;
      else if (c === ')') comment--;
      else remark += c;
    } else if (inAngle) {
      if (c === '>') inAngle = false;
      else angle += c;
    } else if (c === '"') quoted = true;
    else if (c === '(') comment = 1;
    else if (c === '<') {
      inAngle = true;
      angle = '';
    } else if (c === ',' || c === ';') flush();
    else if (c === ':') phrase = ''; // `Group name: a@b, c@d;`: the members count, not the name
    else phrase += c;
  }
  flush();
  return out;
}

// `[^<>\s]` cannot contain the `<` that starts a candidate: candidates never overlap.
const MESSAGE_ID = /<[^<>\s]{1,998}>/g;

function messageIds(value: string): string[] {
  return value.match(MESSAGE_ID) ?? value.split(/\s+/).filter(Boolean).map((id) => id.slice(0, MAX_ID_CHARS));
}

function firstId(value: string | undefined): string | null {
  if (!value) return null;
  return messageIds(value)[0] ?? null;
}

function isoDate(value: string | undefined): string | null {
  if (!value) return null;
  const date = new Date(value.slice(0, MAX_DATE_CHARS));
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
