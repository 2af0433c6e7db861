import { Injectable, Logger } from '@nestjs/common';
import { ServerSettings } from '@pushmail/contracts';
import { ImapClientFactory } from '@pushmail/imap';
import type { ImapFlow } from 'imapflow';
import type { Readable } from 'node:stream';

export interface OpenPart {
  contentType: string;
  filename?: string;
  size?: number;
  content: Readable;
  /** Releases the mailbox and the connection; call once the content was consumed or abandoned. */
  close(): void;
}

/**
 * The gateway's own short IMAP sessions: streaming one MIME part for a download, and appending a
 * sent message to the Sent mailbox. Each uses a fresh connection (a closed ImapFlow cannot be
 * reused) that is logged out as soon as the work is done.
 */
@Injectable()
export class ImapMailboxService {
  private readonly logger = new Logger(ImapMailboxService.name);

  constructor(private readonly factory: ImapClientFactory) {}

  /** Streams a part straight from the server; null when the message or part does not exist. */
  async openPart(settings: ServerSettings, mailbox: string, uid: number, partId: string, accountId?: string): Promise<OpenPart | null> {
    const client = await this.connect(settings, accountId);
    let release: (() => void) | undefined;
    let closed = false;
    // A finished download logs out politely; an abandoned one drops the connection mid-FETCH.
    const end = (graceful: boolean) => {
      if (closed) return;
      closed = true;
      release?.();
      if (graceful) client.logout().catch(() => client.close());
      else client.close();
    };
    const close = () => end(false);
    try {
      const lock = await client.getMailboxLock(mailbox, { readOnly: true });
      release = () => lock.release();
      const { meta, content } = await client.download(String(uid), partId, { uid: true });
      if (!content || !meta) {
        close();
        return null;
      }
      content.once('end', () => end(true));
      content.once('error', close);
      content.once('close', close);
      return { contentType: meta.contentType ?? 'application/octet-stream', filename: meta.filename, size: meta.expectedSize, content, close };
    } catch (err) {
      close();
      // A mailbox that does not exist is answered like a missing message.
      if ((err as { mailboxMissing?: boolean }).mailboxMissing || /nonexistent|doesn't exist|not exist/i.test((err as Error).message)) return null;
      throw err;
    }
  }

  /** Appends to the mailbox marked SPECIAL-USE \Sent, flagged \Seen; false when there is none. */
  async appendToSent(settings: ServerSettings, raw: Buffer, accountId?: string): Promise<boolean> {
    const client = await this.connect(settings, accountId);
    try {
      const sent = (await client.list()).find((m) => m.specialUse === '\\Sent');
      if (!sent) {
        this.logger.warn({ msg: 'no \\Sent mailbox on this account; the sent copy is skipped', host: settings.host });
        return false;
      }
      await client.append(sent.path, raw, ['\\Seen']);
      return true;
    } finally {
      await client.logout().catch(() => client.close());
    }
  }

  /** `accountId` keys the account's OAuth token cache (required for OAuth accounts). */
  private async connect(settings: ServerSettings, accountId?: string): Promise<ImapFlow> {
    const client = await this.factory.create(settings, { disableAutoIdle: true }, accountId);
    client.on('close', () => undefined);
    await client.connect();
    return client;
  }
}
