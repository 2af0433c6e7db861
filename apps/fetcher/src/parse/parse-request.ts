import { partPath } from '@pushmail/contracts';
import { MailContent, ParseMailOptions, StructureLeaf, parseMail } from '@pushmail/mail-parse';

/** What crosses to a parser thread: plain data only (a function such as `partUrl` cannot be cloned). */
export interface ParseRequest {
  raw: Uint8Array;
  /** The message whose parts `cid:` images are rewritten to. */
  part: { accountId: string; mailbox: string; uid: number };
  structure?: StructureLeaf[];
  maxBodyChars: number;
}

export type ParseReply = { id: number; content: MailContent } | { id: number; error: string };

/** The same work on either side of the thread boundary. */
export function runParseRequest(request: ParseRequest): Promise<MailContent> {
  const { raw, part, structure, maxBodyChars } = request;
  const options: ParseMailOptions = { partUrl: (partId) => partPath(part.accountId, part.mailbox, part.uid, partId), maxBodyChars };
  if (structure) options.structure = structure;
  return parseMail(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), options);
}
