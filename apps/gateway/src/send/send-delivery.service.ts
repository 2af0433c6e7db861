import { Injectable, Logger } from '@nestjs/common';
import { AccountRepository, StoredAccount } from '@pushmail/accounts';
import { MessageSendRequest, SendAddress, SendJob, ServerEvent } from '@pushmail/contracts';
import { SmtpMailer, classifySmtpError, smtpErrorCode, smtpErrorMessage } from '@pushmail/mailer';
import { MetricsService } from '@pushmail/observability';
import { UnrecoverableError } from 'bullmq';
import { ImapCommandService } from '../commands/imap-command.service';
import { ImapMailboxService } from '../imap/imap-mailbox.service';
import { CommandError } from '../socket/ack';
import { SocketEmitter } from '../socket/socket-emitter';
import { replyHeaders } from './reply-headers';
import { SendRecord, SendStore } from './send.store';

export interface SendAttempt {
  /** 1 for the first try. */
  attempt: number;
  maxAttempts: number;
}

const formatAddress = (a: SendAddress) => (a.name ? { name: a.name, address: a.address } : a.address);

/**
 * Runs one send job: compose (threaded when it is a reply), hand to the account's SMTP server,
 * tell the account's clients, and put a copy in Sent. Retries are BullMQ's: transient failures
 * are rethrown, permanent ones (and the last attempt) end the job with `message.send_failed`.
 */
@Injectable()
export class SendDeliveryService {
  private readonly logger = new Logger(SendDeliveryService.name);
  private readonly sends;

  constructor(
    private readonly store: SendStore,
    private readonly accounts: AccountRepository,
    private readonly mailer: SmtpMailer,
    private readonly imap: ImapMailboxService,
    private readonly commands: ImapCommandService,
    private readonly emitter: SocketEmitter,
    metrics: MetricsService,
  ) {
    this.sends = metrics.counter('pushmail_sends_total', 'Send attempts by outcome', ['outcome']);
  }

  async deliver(job: SendJob, attempt: SendAttempt): Promise<{ messageId: string } | undefined> {
    const record = await this.store.get(job.sendId);
    if (!record || record.status === 'done' || record.status === 'failed') return undefined; // expired or already finished
    const account = await this.accounts.get(job.accountId);
    if (!account) {
      await this.fail(record, 'account_deleted', 'the account no longer exists');
      throw new UnrecoverableError('account deleted');
    }
    if (record.status === 'queued') await this.sendOverSmtp(record, account, attempt);
    await this.copyToSent(record, account, attempt);
    return { messageId: record.messageId };
  }

  private async sendOverSmtp(record: SendRecord, account: StoredAccount, attempt: SendAttempt): Promise<void> {
    const req = record.request;
    const raw = await this.compose(record, account, attempt);
    const recipients = [...req.to, ...(req.cc ?? []), ...(req.bcc ?? [])].map((a) => a.address);
    try {
      // The envelope sender is the account's own address, as is the header From (compose): a
      // client names recipients and content only, so an account cannot send as anyone else.
      await this.mailer.send(account, account.smtp, { from: account.email, to: recipients }, raw);
    } catch (err) {
      const permanent = classifySmtpError(err) === 'permanent';
      // Clients get a category (or the SMTP code of a reply to the message); the details stay here.
      const detail = smtpDetail(err);
      if (permanent || attempt.attempt >= attempt.maxAttempts) {
        this.logger.warn({ msg: 'send failed', sendId: record.sendId, code: smtpErrorCode(err), ...detail });
        await this.fail(record, smtpErrorCode(err), smtpErrorMessage(err));
        throw new UnrecoverableError(`send ${record.sendId} failed: ${smtpErrorCode(err)}`);
      }
      this.sends.inc({ outcome: 'retried' });
      this.logger.warn({ msg: 'transient SMTP failure, will retry', sendId: record.sendId, code: smtpErrorCode(err), attempt: attempt.attempt, ...detail });
      throw err;
    }
    await this.store.markSent(record.sendId, raw);
    this.sends.inc({ outcome: 'sent' });
    this.emitter.toAccount(record.accountId, ServerEvent.MessageSent, { sendId: record.sendId, accountId: record.accountId, messageId: record.messageId });
  }

  /** The copy in Sent is best effort after the last attempt: the mail itself did go out. */
  private async copyToSent(record: SendRecord, account: StoredAccount, attempt: SendAttempt): Promise<void> {
    const raw = await this.store.getRaw(record.sendId);
    // A POP3 mailbox has no Sent folder to copy into.
    if (raw && account.protocol === 'imap') {
      try {
        await this.imap.appendToSent(account.imap, raw, account.id);
      } catch (err) {
        if (attempt.attempt < attempt.maxAttempts) throw err;
        this.logger.error({ msg: 'could not copy a sent message to Sent', sendId: record.sendId, err });
      }
    }
    await this.store.markDone(record.sendId);
  }

  private async compose(record: SendRecord, account: StoredAccount, attempt: SendAttempt): Promise<Buffer> {
    const req = record.request;
    const threading = req.inReplyTo ? await this.threading(record, req, attempt) : { subject: req.subject };
    return this.mailer.compose({
      from: account.email,
      to: req.to.map(formatAddress),
      cc: req.cc?.map(formatAddress),
      bcc: req.bcc?.map(formatAddress),
      subject: threading.subject,
      inReplyTo: threading.inReplyTo,
      references: threading.references,
      messageId: record.messageId,
      text: req.text,
      html: req.html,
      attachments: req.attachments?.map((a) => ({ filename: a.filename, contentType: a.contentType, content: a.content, encoding: 'base64' })),
    });
  }

  private async threading(record: SendRecord, req: MessageSendRequest, attempt: SendAttempt) {
    const { mailbox, uid } = req.inReplyTo!;
    try {
      const { message } = await this.commands.fetchMessage(record.accountId, mailbox, uid);
      return replyHeaders(req.subject, { messageId: message.messageId, references: message.references, subject: message.subject });
    } catch (err) {
      // A vanished original should not stop the reply; the mail goes out unthreaded.
      if (err instanceof CommandError && err.code === 'not_found') {
        this.logger.warn({ msg: 'original of a reply not found; sending unthreaded', sendId: record.sendId });
        return { subject: req.subject };
      }
      if (attempt.attempt >= attempt.maxAttempts) {
        await this.fail(record, 'reply_original_unavailable', 'the message replied to could not be read');
        throw new UnrecoverableError('reply original unavailable');
      }
      throw err;
    }
  }

  private async fail(record: SendRecord, code: string, message: string): Promise<void> {
    await this.store.markFailed(record.sendId);
    this.sends.inc({ outcome: 'failed' });
    this.emitter.toAccount(record.accountId, ServerEvent.MessageSendFailed, { sendId: record.sendId, accountId: record.accountId, error: { code, message } });
  }
}

/** For the log only: the raw error code and the server's reply (never credentials: nodemailer masks AUTH lines). */
function smtpDetail(err: unknown): { errCode?: string; originalCode?: string; response?: string } {
  const e = (err ?? {}) as { code?: unknown; originalCode?: unknown; response?: unknown };
  return {
    ...(typeof e.code === 'string' ? { errCode: e.code } : {}),
    ...(typeof e.originalCode === 'string' ? { originalCode: e.originalCode } : {}),
    ...(typeof e.response === 'string' ? { response: e.response.slice(0, 300) } : {}),
  };
}
