import { ParsedMessage, partPath, toMessageLogSummary } from '@pushmail/contracts';
import { MailContent, ParseMailOptions, StructureLeaf, parseMail } from '@pushmail/mail-parse';

/** What crosses to a parser thread: plain data only (a function such as `partUrl` cannot be cloned). */
export interface ParseRequest {
  raw: Uint8Array;
  /** The message whose parts `cid:` images are rewritten to. */
  part: { accountId: string; mailbox: string; uid: number };
  structure?: StructureLeaf[];
  maxBodyChars: number;
  /**
   * With the IMAP metadata, the thread answers with the finished ParsedMessage as JSON: the I/O
   * thread then neither rebuilds the object from a structured clone nor serializes it again.
   */
  envelope?: MessageEnvelope;
}

/** What IMAP says about a message, beside its parsed content. */
export interface MessageEnvelope {
  accountId: string;
  mailbox: string;
  uidValidity: number;
  uid: number;
  flags: string[];
  size: number;
  receivedAt: string;
}

/** A finished ParsedMessage as JSON, and whether its attachments' part numbers need the server's word. */
export interface ParsedJson {
  json: string;
  /** Its MessageLogSummary as JSON (what the event log keeps). */
  summaryJson: string;
  partIdsUncertain: boolean;
}

export type ParseReply = { id: number; content: MailContent } | ({ id: number } & ParsedJson) | { id: number; error: string };
/** What a parser thread posts: replies in the order the requests came, and once `ready` when it has loaded. */
export type ParserThreadMessage = ParseReply | { ready: true };

export function toParsedJson(envelope: MessageEnvelope, content: MailContent): ParsedJson {
  const message = toParsedMessage(envelope, content);
  return { json: JSON.stringify(message), summaryJson: JSON.stringify(toMessageLogSummary(message)), partIdsUncertain: !!content.partIdsUncertain };
}

/** The contract's ParsedMessage: parsed content plus the IMAP envelope. */
export function toParsedMessage(envelope: MessageEnvelope, content: MailContent): ParsedMessage {
  const message: ParsedMessage = {
    accountId: envelope.accountId,
    mailbox: envelope.mailbox,
    uid: envelope.uid,
    uidValidity: envelope.uidValidity,
    messageId: content.messageId,
    subject: content.subject,
    from: content.from,
    to: content.to,
    cc: content.cc,
    date: content.date,
    receivedAt: envelope.receivedAt,
    flags: envelope.flags,
    size: envelope.size,
    preview: content.preview,
    text: content.text,
    html: content.html,
    attachments: content.attachments,
  };
  if (content.inReplyTo) message.inReplyTo = content.inReplyTo;
  if (content.references) message.references = content.references;
  if (content.parseWarnings.length) message.parseWarnings = content.parseWarnings;
  return message;
}

/** The same work on either side of the thread boundary. */
export function runParseRequest(request: ParseRequest): Promise<MailContent> {
  const { raw, part, structure, maxBodyChars } = request;
  const options: ParseMailOptions = { partUrl: (partId) => partPath(part.accountId, part.mailbox, part.uid, partId), maxBodyChars };
  if (structure) options.structure = structure;
  return parseMail(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), options);
}
