import type { Address, AttachmentMeta } from '@pushmail/contracts';
import PostalMime, { Address as PostalAddress, Attachment as PostalAttachment, Email } from 'postal-mime';
import { decodeBytes, fixC1Controls, isKnownCharset } from './charsets';
import { htmlToText, makePreview } from './html-text';
import { MimePart, MimeScan, flattenParts, scanMime } from './mime-scanner';
import { sanitizeMailHtml } from './sanitize';

/** One leaf of a message's MIME tree as the IMAP server numbers it (BODYSTRUCTURE order). */
export interface StructureLeaf {
  partId: string;
  contentType: string;
  disposition: string | null;
  contentId?: string;
}

export interface ParseMailOptions {
  /** The URL a `cid:` image is rewritten to; without it, cid images lose their src. */
  partUrl?: (partId: string) => string;
  /**
   * The server's part numbers (from BODYSTRUCTURE). Without them part numbers are computed from
   * the raw message, which agrees with the server for well-formed mail.
   */
  structure?: StructureLeaf[];
  /** Longer text or html is cut (with a warning) so one message cannot bloat Redis and every client. */
  maxBodyChars?: number;
}

/** What the parser contributes to the contract's ParsedMessage; the fetcher adds the IMAP envelope. */
export interface MailContent {
  messageId: string | null;
  inReplyTo?: string;
  references?: string[];
  subject: string;
  from: Address | null;
  to: Address[];
  cc: Address[];
  date: string | null;
  text: string;
  html: string | null;
  preview: string;
  attachments: AttachmentMeta[];
  parseWarnings: string[];
  /**
   * Attachment part numbers were computed from the raw message, which had defects: the server may
   * number its parts differently, so only its BODYSTRUCTURE can be trusted for them.
   */
  partIdsUncertain?: true;
}

export const DEFAULT_MAX_BODY_CHARS = 5_000_000;
const MAX_SUBJECT_CHARS = 2000;
const MAX_ADDRESSES = 1000;
const MAX_REFERENCES = 100;
const MAX_ID_CHARS = 998;
const DEGRADED_HEADER_BYTES = 256 * 1024;

/**
 * Parses and sanitizes one raw message. Never throws: malformed input yields whatever could be
 * read, with `parseWarnings` saying what was wrong.
 */
export async function parseMail(raw: Buffer, options: ParseMailOptions = {}): Promise<MailContent> {
  const scan = scanMime(raw);
  const warnings = new Set(scan.warnings);
  const input = scan.headerHas8bitNonUtf8 ? transcodeHeaders(raw, scan) : raw;
  let email: Email;
  try {
    email = await PostalMime.parse(input, { attachmentEncoding: 'arraybuffer' });
  } catch (err) {
    warnings.add(`MIME structure could not be parsed (${(err as Error).message}); headers and first text part only`);
    email = await degradedParse(input, scan);
  }
  checkCharsets(scan, email, warnings);
  email = withC1Fixed(email);

  const attachments = mapAttachments(email.attachments, options.structure ?? scanLeaves(scan), warnings);
  const cidToPart = new Map<string, AttachmentMeta>();
  for (const a of attachments) if (a.contentId && a.partId) cidToPart.set(stripBrackets(a.contentId).toLowerCase(), a);

  const maxChars = options.maxBodyChars ?? DEFAULT_MAX_BODY_CHARS;
  let html: string | null = null;
  if (email.html) {
    html = sanitizeMailHtml(capped(email.html, maxChars, 'html', warnings), {
      resolveCid: (cid) => {
        const part = cidToPart.get(cid.toLowerCase());
        if (!part || !options.partUrl) return null;
        part.inline = true;
        return options.partUrl(part.partId);
      },
    });
  }
  let text = email.text ?? '';
  if (!text && html) text = htmlToText(html);
  if (!text && !html) text = await firstTextLeaf(raw, scan);
  text = capped(text, maxChars, 'text', warnings);

  const subject = (email.subject ?? '').trim();
  if (subject.length > MAX_SUBJECT_CHARS) warnings.add(`subject longer than ${MAX_SUBJECT_CHARS} characters; truncated`);
  const content: MailContent = {
    messageId: email.messageId ? email.messageId.trim().slice(0, MAX_ID_CHARS) : null,
    subject: subject.slice(0, MAX_SUBJECT_CHARS),
    from: firstMailbox(email.from),
    to: mailboxes(email.to, 'to', warnings),
    cc: mailboxes(email.cc, 'cc', warnings),
    date: isoDate(email.date, warnings),
    text,
    html,
    preview: makePreview(text),
    attachments,
    parseWarnings: [...warnings],
  };
  if (!options.structure && attachments.length && warnings.size) content.partIdsUncertain = true;
  const inReplyTo = email.inReplyTo ? (messageIds(email.inReplyTo)[0] ?? email.inReplyTo.trim()).slice(0, MAX_ID_CHARS) : '';
  if (inReplyTo) content.inReplyTo = inReplyTo;
  if (email.references) {
    let refs = messageIds(email.references);
    // The first reference is the thread root and the last ones the nearest parents: keep both ends.
    if (refs.length > MAX_REFERENCES) refs = [refs[0], ...refs.slice(refs.length - MAX_REFERENCES + 1)];
    if (refs.length) content.references = refs;
  }
  return content;
}

function scanLeaves(scan: MimeScan): StructureLeaf[] {
  return flattenParts(scan.root).map((p) => ({ partId: p.partId, contentType: p.contentType, disposition: p.disposition, contentId: p.contentId }));
}

/** Converts an IMAP BODYSTRUCTURE tree (imapflow's shape) to leaves in document order. */
export interface BodyStructureNode {
  part?: string;
  type: string;
  disposition?: string;
  id?: string;
  childNodes?: BodyStructureNode[];
}
export function leavesFromBodyStructure(root: BodyStructureNode): StructureLeaf[] {
  const out: StructureLeaf[] = [];
  const walk = (node: BodyStructureNode) => {
    const type = node.type.toLowerCase();
    if (type.startsWith('multipart/')) {
      node.childNodes?.forEach(walk);
      return;
    }
    out.push({ partId: node.part ?? '1', contentType: type, disposition: node.disposition?.toLowerCase() ?? null, contentId: node.id });
    if (type === 'message/rfc822') node.childNodes?.forEach(walk);
  };
  walk(root);
  return out;
}

/**
 * Gives each parser attachment the IMAP part number of its leaf. Both sides list parts in document
 * order, so a forward-moving cursor that also compares type (and Content-ID) pairs them up even
 * when the parser skips parts (inline text, unpacked forwarded messages).
 */
export function mapAttachments(list: PostalAttachment[], leaves: StructureLeaf[], warnings: Set<string>): AttachmentMeta[] {
  const candidates = leaves.filter((l) => !(l.disposition !== 'attachment' && (l.contentType === 'text/plain' || l.contentType === 'text/html')));
  // Indexes by type (and type + Content-ID), not a scan of every candidate per attachment: a
  // message with 10,000 parts the parser reads differently took 2.3 s with the nested scan.
  const byType = new Map<string, FreeIndexList>();
  const byTypeWithoutCid = new Map<string, FreeIndexList>();
  const byTypeAndCid = new Map<string, FreeIndexList>();
  const listIn = (map: Map<string, FreeIndexList>, key: string) => {
    let entry = map.get(key);
    if (!entry) map.set(key, (entry = new FreeIndexList()));
    return entry;
  };
  const cidKey = (type: string, cid: string) => `${type}\u0000${stripBrackets(cid)}`;
  candidates.forEach((c, i) => {
    listIn(byType, c.contentType).add(i);
    listIn(c.contentId ? byTypeAndCid : byTypeWithoutCid, c.contentId ? cidKey(c.contentType, c.contentId) : c.contentType).add(i);
  });
  const lists = (i: number): FreeIndexList[] => {
    const c = candidates[i];
    return [byType.get(c.contentType)!, c.contentId ? byTypeAndCid.get(cidKey(c.contentType, c.contentId))! : byTypeWithoutCid.get(c.contentType)!];
  };
  let cursor = 0;
  /** The first unused candidate at or after `from` of the attachment's type; strict also compares Content-IDs where both have one. */
  const find = (a: PostalAttachment, from: number, strict: boolean): number => {
    if (!strict || !a.contentId) return byType.get(a.mimeType)?.firstFreeFrom(from) ?? -1;
    const plain = byTypeWithoutCid.get(a.mimeType)?.firstFreeFrom(from) ?? -1;
    const sameCid = byTypeAndCid.get(cidKey(a.mimeType, a.contentId))?.firstFreeFrom(from) ?? -1;
    return plain < 0 ? sameCid : sameCid < 0 ? plain : Math.min(plain, sameCid);
  };
  const out: AttachmentMeta[] = [];
  for (const a of list) {
    let index = find(a, cursor, true);
    if (index < 0) index = find(a, 0, false);
    if (index < 0) {
      // Without a part number the gateway could never serve it, so it is not offered at all.
      warnings.add(`attachment "${(a.filename ?? a.mimeType).slice(0, 80)}" matches no MIME part; left out`);
      continue;
    }
    for (const l of lists(index)) l.take(index);
    cursor = index + 1;
    const meta: AttachmentMeta = {
      partId: candidates[index].partId,
      filename: a.filename,
      contentType: a.mimeType,
      size: contentSize(a.content),
      inline: a.disposition === 'inline',
    };
    if (a.contentId) meta.contentId = a.contentId.trim();
    out.push(meta);
  }
  return out;
}

/**
 * Ascending candidate indexes, some taken. `firstFreeFrom` is a binary search plus a union-find
 * skip over taken entries (path halving), so every lookup stays near O(log n).
 */
class FreeIndexList {
  private readonly indexes: number[] = [];
  private readonly positions = new Map<number, number>();
  /** next[p] leads to the first free position at or after p (indexes.length: none). */
  private next: number[] = [];

  add(index: number): void {
    this.positions.set(index, this.indexes.length);
    this.indexes.push(index);
    this.next.push(this.next.length);
  }

  firstFreeFrom(from: number): number {
    let lo = 0;
    let hi = this.indexes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.indexes[mid] < from) lo = mid + 1;
      else hi = mid;
    }
    const p = this.free(lo);
    return p < this.indexes.length ? this.indexes[p] : -1;
  }

  take(index: number): void {
    const p = this.positions.get(index);
    if (p !== undefined) this.next[p] = p + 1;
  }

  private free(p: number): number {
    const next = this.next;
    while (p < next.length && next[p] !== p) {
      const after = next[p];
      if (after < next.length) next[p] = next[after];
      p = after;
    }
    return p;
  }
}

/** See {@link fixC1Controls}: every decoded string of the message gets the windows-1252 repair. */
function withC1Fixed(email: Email): Email {
  const fixAddress = (a: PostalAddress): PostalAddress =>
    a.group ? { ...a, name: fixC1Controls(a.name), group: a.group.map((m) => ({ ...m, name: fixC1Controls(m.name) })) } : { ...a, name: fixC1Controls(a.name) };
  return {
    ...email,
    subject: email.subject && fixC1Controls(email.subject),
    text: email.text && fixC1Controls(email.text),
    html: email.html && fixC1Controls(email.html),
    from: email.from && fixAddress(email.from),
    to: email.to?.map(fixAddress),
    cc: email.cc?.map(fixAddress),
    attachments: email.attachments.map((a) => (a.filename ? { ...a, filename: fixC1Controls(a.filename) } : a)),
  };
}

function contentSize(content: PostalAttachment['content']): number {
  if (typeof content === 'string') return Buffer.byteLength(content);
  return content.byteLength;
}

function stripBrackets(id: string): string {
  return id.trim().replace(/^<|>$/g, '');
}

function messageIds(value: string): string[] {
  const ids = value.match(/<[^<>\s]+>/g);
  if (ids) return ids.map((id) => id.slice(0, MAX_ID_CHARS));
  return value.split(/\s+/).filter(Boolean).map((id) => id.slice(0, MAX_ID_CHARS));
}

function flatten(list: PostalAddress[] | undefined): Address[] {
  const out: Address[] = [];
  for (const entry of list ?? []) {
    if (entry.group) for (const member of entry.group) out.push({ name: member.name ?? '', address: member.address ?? '' });
    else out.push({ name: entry.name ?? '', address: entry.address ?? '' });
  }
  return out;
}

function firstMailbox(address: PostalAddress | undefined): Address | null {
  const [first] = flatten(address ? [address] : []);
  return first && (first.address || first.name) ? first : null;
}

function mailboxes(list: PostalAddress[] | undefined, field: string, warnings: Set<string>): Address[] {
  const all = flatten(list).filter((a) => a.address || a.name);
  if (all.length > MAX_ADDRESSES) warnings.add(`${field}: more than ${MAX_ADDRESSES} addresses; the rest dropped`);
  return all.slice(0, MAX_ADDRESSES);
}

function isoDate(value: string | undefined, warnings: Set<string>): string | null {
  if (!value) return null;
  const date = new Date(value);
  if (Number.isNaN(date.getTime()) || !/^\d{4}-\d\d-\d\dT/.test(value)) {
    warnings.add('unparseable Date header');
    return null;
  }
  return date.toISOString();
}

function capped(value: string, max: number, what: string, warnings: Set<string>): string {
  if (value.length <= max) return value;
  warnings.add(`${what} longer than ${max} characters; truncated`);
  return value.slice(0, max);
}

/**
 * Raw 8-bit headers are usually in the sender's local charset, which is almost always the body's
 * too; re-encoding them as UTF-8 lets the parser read them (RFC 6532 allows UTF-8 headers).
 */
function transcodeHeaders(raw: Buffer, scan: MimeScan): Buffer {
  const charset = firstTextCharset(scan.root) ?? 'windows-1252';
  const header = decodeBytes(raw.subarray(0, scan.headerEnd), isKnownCharset(charset) ? charset : 'windows-1252');
  return Buffer.concat([Buffer.from(header, 'utf8'), raw.subarray(scan.headerEnd)]);
}

function firstTextCharset(root: MimePart): string | undefined {
  return flattenParts(root).find((p) => p.contentType.startsWith('text/') && p.params.charset)?.params.charset;
}

function checkCharsets(scan: MimeScan, email: Email, warnings: Set<string>): void {
  for (const part of flattenParts(scan.root)) {
    const charset = part.params.charset;
    if (charset && part.contentType.startsWith('text/') && !isKnownCharset(charset)) {
      warnings.add(`unknown charset "${charset.slice(0, 40)}" in part ${part.partId}; read as windows-1252`);
    }
  }
  for (const header of email.headers) {
    if (!['subject', 'from', 'to', 'cc', 'reply-to'].includes(header.key)) continue;
    for (const m of header.value.matchAll(/=\?([^?*\s]+)(?:\*[^?]*)?\?[bq]\?/gi)) {
      if (!isKnownCharset(m[1])) warnings.add(`unknown charset "${m[1].slice(0, 40)}" in ${header.key} header`);
    }
  }
}

/** Decodes the first text leaf on its own: for bodies the parser could not place (e.g. a multipart without boundary). */
async function firstTextLeaf(raw: Buffer, scan: MimeScan): Promise<string> {
  const leaf = flattenParts(scan.root).find((p) => p.contentType.startsWith('text/') && p.bodyEnd > p.bodyStart);
  if (!leaf) return '';
  const header = `Content-Type: text/plain; charset="${(leaf.params.charset ?? 'utf-8').replace(/"/g, '')}"\r\nContent-Transfer-Encoding: ${leaf.encoding}\r\n\r\n`;
  try {
    const email = await PostalMime.parse(Buffer.concat([Buffer.from(header, 'latin1'), raw.subarray(leaf.bodyStart, leaf.bodyEnd)]));
    return email.text ?? '';
  } catch {
    return '';
  }
}

async function degradedParse(raw: Buffer, scan: MimeScan): Promise<Email> {
  const headerBytes = raw.subarray(0, Math.min(scan.headerEnd, DEGRADED_HEADER_BYTES));
  try {
    const email = await PostalMime.parse(Buffer.concat([headerBytes, Buffer.from('\r\n\r\n')]), { maxHeadersSize: DEGRADED_HEADER_BYTES * 2 });
    return { ...email, text: await firstTextLeaf(raw, scan), html: undefined, attachments: [] };
  } catch {
    return { headers: [], headerLines: [], attachments: [], text: await firstTextLeaf(raw, scan) };
  }
}
