import { decodeBytes } from './charsets';
import { MimePart, flattenParts, parseStructuredValue, scanMime } from './mime-scanner';

export interface ExtractedPart {
  contentType: string;
  filename?: string;
  /** The part's body with its Content-Transfer-Encoding undone. */
  content: Buffer;
}

/**
 * One MIME part of a whole raw message, by its IMAP section number (the numbering `scanMime` gives
 * and the parsed message's attachments carry). It exists for POP3 mail, where the server can only
 * send the whole message: the part is cut out here instead of fetched with BODY[<part>]. Null when
 * the message has no such leaf (a multipart container is not a part one can download).
 */
export function extractPart(raw: Buffer, partId: string): ExtractedPart | null {
  const part = flattenParts(scanMime(raw).root).find((p) => p.partId === partId);
  if (!part) return null;
  const filename = filenameOf(raw, part);
  return { contentType: part.contentType, ...(filename ? { filename } : {}), content: decodeTransfer(raw.subarray(part.bodyStart, part.bodyEnd), part.encoding) };
}

export function decodeTransfer(body: Buffer, encoding: string): Buffer {
  // Node's base64 decoder skips line breaks and other characters outside the alphabet.
  if (encoding === 'base64') return Buffer.from(body.toString('latin1'), 'base64');
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
  return Buffer.from(body);
}

function decodeQuotedPrintable(body: Buffer): Buffer {
  const out = Buffer.alloc(body.length);
  let n = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== 0x3d) {
      out[n++] = c;
      continue;
    }
    // A soft line break: "=" then optional trailing whitespace, then CRLF or LF.
    let j = i + 1;
    while (body[j] === 0x20 || body[j] === 0x09) j++;
    if (body[j] === 0x0d && body[j + 1] === 0x0a) {
      i = j + 1;
      continue;
    }
    if (body[j] === 0x0a) {
      i = j;
      continue;
    }
    const hi = hexValue(body[i + 1]);
    const lo = hexValue(body[i + 2]);
    if (hi >= 0 && lo >= 0) {
      out[n++] = hi * 16 + lo;
      i += 2;
    } else {
      // A stray "=" is kept as it is (RFC 2045 §6.7 suggests leniency).
      out[n++] = c;
    }
  }
  return out.subarray(0, n);
}

function hexValue(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Content-Disposition's filename, else Content-Type's name; RFC 2231 and RFC 2047 forms decoded. */
function filenameOf(raw: Buffer, part: MimePart): string | undefined {
  const block = raw.toString('latin1', part.headerStart, part.bodyStart);
  const header = (name: string) => {
    const m = new RegExp(`^${name}:([^\\n]*(?:\\r?\\n[ \\t][^\\n]*)*)`, 'im').exec(block);
    return m ? m[1].replace(/\r?\n[ \t]/g, ' ').trim() : undefined;
  };
  const disposition = header('content-disposition');
  const fromDisposition = disposition === undefined ? undefined : parseStructuredValue(disposition).params.filename;
  const type = header('content-type');
  const name = fromDisposition ?? (type === undefined ? undefined : parseStructuredValue(type).params.name);
  if (!name) return undefined;
  return decodeName(name);
}

function decodeName(value: string): string {
  // RFC 2231: charset'language'percent-encoded (continuations are already joined by the scanner).
  const extended = /^([\w.-]+)'[^']*'(.*)$/.exec(value);
  if (extended) {
    const bytes = Buffer.from(extended[2].replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
    return decodeBytes(bytes, extended[1]);
  }
  // RFC 2047 encoded words, which many mailers put in filenames although the RFC forbids it there.
  const words = value.replace(/\?=\s+=\?/g, '?==?');
  if (!/=\?[^?]+\?[bBqQ]\?[^?]*\?=/.test(words)) return Buffer.from(value, 'latin1').toString('utf8');
  return words.replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=/g, (_m, charset: string, kind: string, text: string) => {
    const bytes = kind.toLowerCase() === 'b' ? Buffer.from(text, 'base64') : decodeQuotedPrintable(Buffer.from(text.replace(/_/g, ' '), 'latin1'));
    return decodeBytes(bytes, charset.split('*')[0]);
  });
}
