import { Injectable } from '@nestjs/common';
import { AttachmentMeta, ParsedMessage, toMessageLogSummary } from '@pushmail/contracts';
import { BodyStructureNode, MailContent, leavesFromBodyStructure } from '@pushmail/mail-parse';
import type { MessageStructureObject } from 'imapflow';
import { MessageEnvelope, toParsedMessage } from '../parse/parse-request';
import { ParserPool } from '../parse/parser-pool';
import { MessageLimits } from '../settings';
import { SerializedMessage } from '../store/message-log';
import { FetchedMessage } from './message-fetcher';

interface Envelope {
  accountId: string;
  mailbox: string;
  uidValidity: number;
}

/** Turns a fetched message into the contract's ParsedMessage: parsed, sanitized, with IMAP metadata. */
@Injectable()
export class MessageAssembler {
  constructor(
    private readonly parser: ParserPool,
    private readonly limits: MessageLimits,
  ) {}

  async assemble(envelope: Envelope, fetched: FetchedMessage): Promise<ParsedMessage> {
    const part = { accountId: envelope.accountId, mailbox: envelope.mailbox, uid: fetched.uid };
    const content = fetched.source
      ? await this.parser.parse({ raw: fetched.source, part, structure: structureOf(fetched), maxBodyChars: this.limits.maxBodyChars })
      : await this.parsePartial(fetched, part);
    return toParsedMessage(imapEnvelope(envelope, fetched), content);
  }

  /**
   * The same message, serialized for the event log; for ordinary mail the parser thread does both.
   * `partIdsUncertain`: the message had no BODYSTRUCTURE and defects that may make the server number
   * its attachments differently; assemble it again with the server's structure.
   */
  async assembleSerialized(envelope: Envelope, fetched: FetchedMessage): Promise<SerializedMessage & { partIdsUncertain: boolean }> {
    const ids = { accountId: envelope.accountId, mailbox: envelope.mailbox, uidValidity: envelope.uidValidity, uid: fetched.uid };
    if (!fetched.source) {
      const message = await this.assemble(envelope, fetched);
      return { ...ids, json: JSON.stringify(message), summaryJson: JSON.stringify(toMessageLogSummary(message)), partIdsUncertain: false };
    }
    const part = { accountId: envelope.accountId, mailbox: envelope.mailbox, uid: fetched.uid };
    const parsed = await this.parser.parseToJson({ raw: fetched.source, part, structure: structureOf(fetched), maxBodyChars: this.limits.maxBodyChars }, imapEnvelope(envelope, fetched));
    return { ...ids, ...parsed };
  }

  /**
   * An oversized message: headers and the first text part are parsed as a small message of their
   * own; attachments are listed from BODYSTRUCTURE, never downloaded.
   */
  private async parsePartial(fetched: FetchedMessage, part: { accountId: string; mailbox: string; uid: number }): Promise<MailContent> {
    const partial = fetched.partial;
    const headers = (partial?.headers.toString('latin1') ?? '').split(/\r?\n\r?\n/, 1)[0];
    const kept = unfoldedLines(headers).filter((line) => !/^content-(type|transfer-encoding|disposition)\s*:/i.test(line));
    const leaf = partial?.text?.leaf;
    const contentType = leaf ? `${leaf.type}${leaf.parameters?.charset ? `; charset="${leaf.parameters.charset}"` : ''}` : 'text/plain';
    const synthetic = Buffer.concat([
      Buffer.from([...kept, `Content-Type: ${contentType}`, `Content-Transfer-Encoding: ${leaf?.encoding ?? '7bit'}`, '', ''].join('\r\n'), 'latin1'),
      partial?.text?.bytes ?? Buffer.alloc(0),
    ]);
    const content = await this.parser.parse({ raw: synthetic, part, maxBodyChars: this.limits.maxBodyChars });
    content.attachments = fetched.structure ? attachmentsFromStructure(fetched.structure, leaf) : [];
    content.parseWarnings = [
      `message is ${fetched.size} bytes, above the ${this.limits.maxMessageBytes}-byte limit: only headers, structure and the first text part were fetched`,
      ...content.parseWarnings.filter((w) => !/base64 body is truncated|closing boundary/.test(w)),
    ];
    return content;
  }
}

function structureOf(fetched: FetchedMessage) {
  return fetched.structure ? leavesFromBodyStructure(fetched.structure as BodyStructureNode) : undefined;
}

function imapEnvelope(envelope: Envelope, fetched: FetchedMessage): MessageEnvelope {
  return {
    accountId: envelope.accountId,
    mailbox: envelope.mailbox,
    uidValidity: envelope.uidValidity,
    uid: fetched.uid,
    flags: fetched.flags,
    size: fetched.size,
    receivedAt: fetched.internalDate.toISOString(),
  };
}

function unfoldedLines(block: string): string[] {
  return block.split(/\r?\n(?![ \t])/).filter(Boolean);
}

/** Attachment metadata from BODYSTRUCTURE alone (sizes there are encoded sizes; base64 is scaled back). */
function attachmentsFromStructure(root: MessageStructureObject, textLeaf: MessageStructureObject | undefined): AttachmentMeta[] {
  const out: AttachmentMeta[] = [];
  const walk = (node: MessageStructureObject) => {
    const type = node.type.toLowerCase();
    if (type.startsWith('multipart/')) {
      node.childNodes?.forEach(walk);
      return;
    }
    if (node === textLeaf) return;
    const disposition = node.disposition?.toLowerCase();
    if (disposition !== 'attachment' && (type === 'text/plain' || type === 'text/html')) return;
    const encoded = node.size ?? 0;
    const meta: AttachmentMeta = {
      partId: node.part ?? '1',
      filename: node.dispositionParameters?.filename ?? node.parameters?.name ?? null,
      contentType: type,
      size: node.encoding?.toLowerCase() === 'base64' ? Math.floor((encoded * 3) / 4) : encoded,
      inline: disposition === 'inline',
    };
    if (node.id) meta.contentId = node.id;
    out.push(meta);
  };
  walk(root);
  return out;
}
