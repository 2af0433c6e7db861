import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import {
  CommandJobOutcome,
  ImapCommandJobName,
  ImapCommandResults,
  JobPayloadOf,
  MailboxInfo,
  MailboxListRequest,
  MessageDeleteRequest,
  MessageFlagRequest,
  MessageGetRequest,
  MessageListRequest,
  MessageMoveRequest,
  MessagePage,
  MessageSearchRequest,
  QueueName,
  isWatched,
  redisKeys,
} from '@pushmail/contracts';
import { ConfigService } from '@pushmail/config';
import { Pop3UidStore } from '@pushmail/pop3';
import { QueueService } from '@pushmail/queue';
import { RedisService } from '@pushmail/redis';
import type { QueueEvents } from 'bullmq';
import { GatewayEnv } from '../config';
import { CommandError, forbidden } from '../socket/ack';
import { StoredMessageReader } from './stored-message-reader';

type CommandName = ImapCommandJobName;

/** The flags pushmail keeps itself for POP3 mail (POP3 has none). */
const POP3_FLAGS = new Set(['\\Seen', '\\Flagged']);
const POP3_MAILBOX = 'INBOX';

const pop3Unsupported = (what: string) => new CommandError('bad_request', `POP3 does not support ${what}`);

/**
 * Client commands that must run on the account's IMAP connections go to the fetcher through the
 * command queue; the client's ack waits for the job's result, i.e. for the IMAP server's answer.
 */
@Injectable()
export class ImapCommandService implements OnModuleInit {
  private readonly logger = new Logger(ImapCommandService.name);
  private events!: QueueEvents;
  private readonly timeoutMs: number;

  constructor(
    private readonly queue: QueueService,
    private readonly accounts: AccountRepository,
    private readonly store: StoredMessageReader,
    private readonly redis: RedisService,
    config: ConfigService<GatewayEnv>,
  ) {
    this.timeoutMs = config.get('COMMAND_TIMEOUT_MS');
  }

  async onModuleInit(): Promise<void> {
    this.events = this.queue.queueEventsFor(QueueName.ImapCommands);
    await this.events.waitUntilReady();
  }

  async flag(userId: string, req: MessageFlagRequest): Promise<ImapCommandResults[ImapCommandJobName.Flag]> {
    await this.assertOwner(req.accountId, userId);
    if (await this.isPop3(req.accountId)) {
      this.assertPop3Inbox(req.mailbox);
      const other = [...(req.add ?? []), ...(req.remove ?? [])].find((f) => !POP3_FLAGS.has(f));
      if (other !== undefined) throw pop3Unsupported(`the flag ${other} (pushmail keeps \\Seen and \\Flagged for POP3 mail)`);
    }
    return this.run(ImapCommandJobName.Flag, { accountId: req.accountId, mailbox: req.mailbox, uid: req.uid, add: req.add ?? [], remove: req.remove ?? [] });
  }

  async get(userId: string, req: MessageGetRequest): Promise<ImapCommandResults[ImapCommandJobName.Get]> {
    await this.assertOwner(req.accountId, userId);
    return this.fetchMessage(req.accountId, req.mailbox, req.uid);
  }

  /** The account's folders; `watched` says which ones the account's watcher follows (their changes arrive as events). */
  async mailboxes(userId: string, req: MailboxListRequest): Promise<{ mailboxes: MailboxInfo[] }> {
    await this.assertOwner(req.accountId, userId);
    if (await this.isPop3(req.accountId)) {
      // POP3 has one mailbox; what it holds is what the watcher's last poll mapped.
      const { uidValidity, uids } = await new Pop3UidStore(this.redis).list(req.accountId);
      const uidNext = uids.length ? uids[uids.length - 1] + 1 : null;
      const inbox = { path: POP3_MAILBOX, name: POP3_MAILBOX, delimiter: null, parent: null, specialUse: null, subscribed: true, messages: uids.length, unseen: null, uidNext, uidValidity, watched: true };
      return { mailboxes: [inbox] };
    }
    const [result, view] = await Promise.all([this.run(ImapCommandJobName.MailboxList, req), this.accounts.view(req.accountId)]);
    // The watcher's own rule: names, and "*" for every folder but \All, \Junk and \Trash.
    const spec = view?.mailboxes ?? [];
    return { mailboxes: result.mailboxes.map((box) => ({ ...box, watched: isWatched(spec, box) })) };
  }

  async list(userId: string, req: MessageListRequest): Promise<MessagePage> {
    await this.assertOwner(req.accountId, userId);
    if (await this.isPop3(req.accountId)) this.assertPop3Inbox(req.mailbox);
    return this.run(ImapCommandJobName.MessageList, req);
  }

  async search(userId: string, req: MessageSearchRequest): Promise<MessagePage> {
    await this.assertOwner(req.accountId, userId);
    if (await this.isPop3(req.accountId)) throw pop3Unsupported('searching on the server');
    return this.run(ImapCommandJobName.MessageSearch, req);
  }

  /** Acked once the server confirmed the move; the events (deleted here, new there) follow through the event log. */
  async move(userId: string, req: MessageMoveRequest): Promise<ImapCommandResults[ImapCommandJobName.MessageMove]> {
    await this.assertOwner(req.accountId, userId);
    if (await this.isPop3(req.accountId)) throw pop3Unsupported('moving messages (it has only INBOX)');
    return this.run(ImapCommandJobName.MessageMove, req);
  }

  async delete(userId: string, req: MessageDeleteRequest): Promise<object> {
    await this.assertOwner(req.accountId, userId);
    if (await this.isPop3(req.accountId)) this.assertPop3Inbox(req.mailbox);
    await this.run(ImapCommandJobName.MessageDelete, req);
    return {};
  }

  /** The stored copy when the fetcher already has it, else a fresh fetch over IMAP. */
  async fetchMessage(accountId: string, mailbox: string, uid: number): Promise<ImapCommandResults[ImapCommandJobName.Get]> {
    const stored = await this.store.find(accountId, mailbox, uid);
    if (stored) return { message: stored };
    return this.run(ImapCommandJobName.Get, { accountId, mailbox, uid });
  }

  private async run<N extends CommandName>(name: N, payload: JobPayloadOf<QueueName.ImapCommands, N>): Promise<ImapCommandResults[N]> {
    const job = await this.queue.add(QueueName.ImapCommands, name, payload, {
      // A flag change or a fetch is safe to repeat; a client waits, so retries are few and quick.
      attempts: 2,
      backoff: { type: 'fixed', delay: 200 },
      // The return value is only a reference; finished jobs need not stay long.
      removeOnComplete: { age: 60 },
      removeOnFail: { age: 24 * 3600 },
    });
    let outcome: CommandJobOutcome;
    try {
      outcome = (await job.waitUntilFinished(this.events, this.timeoutMs)) as CommandJobOutcome;
    } catch (err) {
      const reason = (err as Error).message ?? '';
      // BullMQ's own wait timeout (the fetcher's failure reasons never start like this).
      if (reason.startsWith('Job wait ')) {
        this.logger.warn({ msg: 'imap command timed out', command: name, jobId: job.id, accountId: payload.accountId });
        throw new CommandError('internal', 'the mail server did not answer in time');
      }
      this.logger.warn({ msg: 'imap command failed', command: name, jobId: job.id, accountId: payload.accountId, reason });
      throw new CommandError('internal', 'the mail server command failed');
    }
    if (typeof outcome !== 'object' || outcome === null || !('ok' in outcome)) {
      // E.g. a fetcher of an older version still running during an upgrade.
      this.logger.error({ msg: 'imap command returned no CommandJobOutcome', command: name, jobId: job.id });
      throw new CommandError('internal', 'the mail server command failed');
    }
    if (!outcome.ok) throw new CommandError(outcome.code, name === ImapCommandJobName.Flag || name === ImapCommandJobName.Get ? 'no such message' : 'no such mailbox');
    // Read once and gone: the result (a whole message for message.get) does not stay in Redis.
    const json = await this.redis.client.getdel(redisKeys.commandResult(outcome.ref));
    if (json === null) {
      this.logger.warn({ msg: 'imap command result expired before it was read', command: name, jobId: job.id });
      throw new CommandError('internal', 'the mail server command failed');
    }
    return JSON.parse(json) as ImapCommandResults[N];
  }

  private async isPop3(accountId: string): Promise<boolean> {
    return (await this.accounts.protocolOf(accountId)) === 'pop3';
  }

  private assertPop3Inbox(mailbox: string): void {
    if (mailbox !== POP3_MAILBOX) throw pop3Unsupported(`folders other than ${POP3_MAILBOX}`);
  }

  private async assertOwner(accountId: string, userId: string): Promise<void> {
    if (!(await this.accounts.isOwnedBy(accountId, userId))) throw forbidden();
  }
}
