import { Injectable } from '@nestjs/common';
import { StoredPop3Account } from '@pushmail/accounts';
import { extractPart } from '@pushmail/mail-parse';
import { Pop3ClientFactory, Pop3UidStore } from '@pushmail/pop3';
import { Readable } from 'node:stream';
import { PartSettings } from '../settings';
import type { OpenPart } from '../imap/imap-mailbox.service';

/** POP3 mail lives in INBOX only (as the commands and the watcher's poller say). */
const POP3_MAILBOX = 'INBOX';

/** The message is larger than POP3_PART_RETR_MAX_BYTES: the gateway will not hold it in memory. */
export class Pop3MessageTooLargeError extends Error {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`the message is ${size} bytes, above the ${limit} bytes a POP3 part is cut out of`);
  }
}

/**
 * Parts of POP3 mail. POP3 cannot fetch one MIME part, so the part is cut out of the whole
 * message: the raw copy the fetcher kept in Redis (POP3_RAW_KEEP_BYTES / _SECONDS), else the
 * message downloaded again with RETR on a short session of the gateway's own (as for IMAP parts:
 * never staged in Redis, where a user must not be able to put many MB). A message the watcher's
 * mapping no longer holds (deleted on the server, or another uidValidity) has no parts.
 */
@Injectable()
export class Pop3PartsService {

  constructor(
    private readonly factory: Pop3ClientFactory,
    private readonly uids: Pop3UidStore,
    private readonly settings: PartSettings,
  ) {}

  /**
   * Null when there is no such message or part. Rejects with the connection's error (Pop3Error,
   * MailHostRefusedError) or Pop3MessageTooLargeError when the message had to be downloaded again.
   */
  async openPart(account: StoredPop3Account, mailbox: string, uid: number, partId: string): Promise<OpenPart | null> {
    if (mailbox !== POP3_MAILBOX) return null;
    const uidValidity = await this.uids.uidValidity(account.id);
    if (uidValidity === null) return null;
    const uidl = await this.uids.uidlOf(account.id, uidValidity, uid);
    if (uidl === null) return null;
    const kept = await this.uids.rawOf(account.id, uidValidity, uid);
    const raw = kept ?? (await this.retr(account, uidl));
    if (!raw) return null;
    const part = extractPart(raw, partId);
    if (!part) return null;
    const content = Readable.from([part.content]);
    return {
      contentType: part.contentType,
      ...(part.filename ? { filename: part.filename } : {}),
      size: part.content.length,
      content,
      close: () => content.destroy(),
    };
  }

  /** The whole message by its UIDL, or null when the server no longer holds it. QUIT deletes nothing: no DELE was sent. */
  private async retr(account: StoredPop3Account, uidl: string): Promise<Buffer | null> {
    const client = await this.factory.connect(account.pop3, {}, account.id);
    try {
      const msg = (await client.uidl()).find((e) => e.uid === uidl)?.msg;
      if (msg === undefined) return null;
      const size = (await client.list()).find((e) => e.msg === msg)?.size ?? 0;
      if (size > this.settings.pop3RetrMaxBytes) throw new Pop3MessageTooLargeError(size, this.settings.pop3RetrMaxBytes);
      // LIST's size counts CRLFs as the server stores them; a little slack for a server that counts LF.
      const source = await client.retr(msg, this.settings.pop3RetrMaxBytes + 64 * 1024);
      await client.quit();
      return source;
    } finally {
      if (!client.closed) client.close();
    }
  }
}
