import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import {
  COMMAND_RESULT_TTL_SECONDS,
  CommandReply,
  DEFAULT_PAGE_SIZE,
  FastCommandPageTicket,
  FastCommandName,
  FastCommandRequest,
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
  isFastCommand,
  isWatched,
  redisChannels,
  redisKeys,
} from '@pushmail/contracts';
import { FirstPageCache } from '@pushmail/page-cache';
import { Pop3UidStore } from '@pushmail/pop3';
import { QueueService } from '@pushmail/queue';
import { RedisService } from '@pushmail/redis';
import { randomBytes } from 'node:crypto';
import { CommandSettings } from '../settings';
import { CommandError, forbidden } from '../socket/ack';
import { StoredMessageReader } from './stored-message-reader';

type CommandName = ImapCommandJobName;

/** The flags pushmail keeps itself for POP3 mail (POP3 has none). */
const POP3_FLAGS = new Set(['\\Seen', '\\Flagged']);
const POP3_MAILBOX = 'INBOX';

const pop3Unsupported = (what: string) => new CommandError('bad_request', `POP3 does not support ${what}`);

/** Read-only requests the list holds at most (the oldest beyond go: their gateways stopped waiting long ago). */
const FAST_REQUESTS_MAX = 10_000;

/** What a waiting command ends with: the fetcher's reply, the gateway's timeout, or a failed enqueue. */
type Settlement = CommandReply | 'timeout' | 'unsent' | Error;

/**
 * Client commands that must run on the account's IMAP connections go to the fetcher through the
 * command queue; the client's ack waits for the job's answer, i.e. for the IMAP server's.
 *
 * A command that changes mail goes through BullMQ (kept in Redis until a fetcher takes it, retried
 * once, taken over from a fetcher that dies); a read-only one straight to a fetcher's BRPOP (see
 * FAST_COMMANDS in contracts). Either way the answer comes back on this gateway's own reply channel,
 * published by the fetcher the moment the IMAP work is done: one Redis hop, where waiting for
 * BullMQ's completed event (QueueEvents' XREAD, its per-job isFinished check, then a GETDEL of the
 * result) cost four, and every command's added/active/completed events woke this process. Nobody
 * but the waiting client needs the answer, so it need not outlive the wait: a reply lost with the
 * subscriber connection ends as the timeout does, `internal`, and the client may ask again (a
 * page, a search or a message read is safe to repeat; a move or a delete that did happen shows in
 * the events, and a repeat of it answers `not_found` or moves nothing).
 */
@Injectable()
export class ImapCommandService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ImapCommandService.name);
  /** This gateway's reply channel id; the job ids it chooses start with it. */
  private readonly replyTo = randomBytes(12).toString('base64url');
  private readonly pending = new Map<string, (settlement: Settlement) => void>();
  private sequence = 0;

  constructor(
    private readonly queue: QueueService,
    private readonly accounts: AccountRepository,
    private readonly store: StoredMessageReader,
    private readonly redis: RedisService,
    private readonly pages: FirstPageCache,
    private readonly settings: CommandSettings,
  ) {}

  async onModuleInit(): Promise<void> {
    const subscriber = this.redis.open({ connectionName: 'command-replies' });
    subscriber.on('message', (_channel: string, message: string) => this.onReply(message));
    // ioredis subscribes again by itself after a reconnect.
    await subscriber.subscribe(redisChannels.commandReplies(this.replyTo));
  }

  onModuleDestroy(): void {
    for (const [id, settle] of this.pending) {
      this.pending.delete(id);
      settle(new Error('gateway shutting down'));
    }
  }

  async flag(userId: string, req: MessageFlagRequest): Promise<ImapCommandResults[ImapCommandJobName.Flag]> {
    if (await this.ownedPop3(req.accountId, userId)) {
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
    const [result, view] = await Promise.all([this.askOwnedImap(userId, ImapCommandJobName.MailboxList, req), this.accounts.view(req.accountId)]);
    if (!result) {
      // POP3 has one mailbox; what it holds is what the watcher's last poll mapped.
      const { uidValidity, uids } = await new Pop3UidStore(this.redis).list(req.accountId);
      const uidNext = uids.length ? uids[uids.length - 1] + 1 : null;
      const inbox = { path: POP3_MAILBOX, name: POP3_MAILBOX, delimiter: null, parent: null, specialUse: null, subscribed: true, messages: uids.length, unseen: null, uidNext, uidValidity, watched: true };
      return { mailboxes: [inbox] };
    }
    // The watcher's own rule: names, and "*" for every folder but \All, \Junk and \Trash.
    const spec = view?.mailboxes ?? [];
    return { mailboxes: result.mailboxes.map((box) => ({ ...box, watched: isWatched(spec, box) })) };
  }

  async list(userId: string, req: MessageListRequest): Promise<MessagePage> {
    const page = await this.askOwnedImap(userId, ImapCommandJobName.MessageList, req, FirstPageCache.fieldOf(req.mailbox, req.limit ?? DEFAULT_PAGE_SIZE, req.before));
    if (page) return page;
    // POP3 (nothing was sent): INBOX only, from the watcher's uid mapping, read by the fetcher.
    this.assertPop3Inbox(req.mailbox);
    return this.run(ImapCommandJobName.MessageList, req);
  }

  async search(userId: string, req: MessageSearchRequest): Promise<MessagePage> {
    const page = await this.askOwnedImap(userId, ImapCommandJobName.MessageSearch, req);
    if (page) return page;
    throw pop3Unsupported('searching on the server');
  }

  /** Acked once the server confirmed the move; the events (deleted here, new there) follow through the event log. */
  async move(userId: string, req: MessageMoveRequest): Promise<ImapCommandResults[ImapCommandJobName.MessageMove]> {
    if (await this.ownedPop3(req.accountId, userId)) throw pop3Unsupported('moving messages (it has only INBOX)');
    return this.run(ImapCommandJobName.MessageMove, req);
  }

  async delete(userId: string, req: MessageDeleteRequest): Promise<object> {
    if (await this.ownedPop3(req.accountId, userId)) this.assertPop3Inbox(req.mailbox);
    await this.run(ImapCommandJobName.MessageDelete, req);
    return {};
  }

  /** The stored copy when the fetcher already has it, else a fresh fetch over IMAP. */
  async fetchMessage(accountId: string, mailbox: string, uid: number): Promise<ImapCommandResults[ImapCommandJobName.Get]> {
    const stored = await this.store.find(accountId, mailbox, uid);
    if (stored) return { message: stored };
    return this.run(ImapCommandJobName.Get, { accountId, mailbox, uid });
  }

  /**
   * A read-only command of an IMAP account: `forbidden` unless the account is the user's;
   * undefined, with nothing sent, for a POP3 account. The ownership check is one round trip that
   * also answers a cacheable first page (`pageField`, see FirstPageCache) from the cache; otherwise
   * the request goes to a fetcher, with the ticket that lets it store the answer. Two round trips
   * on a miss, not one Lua script doing both: the request list is one key for all accounts, which a
   * Redis Cluster keeps on another slot than the account's keys.
   */
  private async askOwnedImap<N extends FastCommandName>(
    userId: string,
    name: N,
    payload: JobPayloadOf<QueueName.ImapCommands, N>,
    pageField?: string,
  ): Promise<ImapCommandResults[N] | undefined> {
    const found = await this.pages.lookup(payload.accountId, userId, pageField, this.settings.listCacheSeconds);
    if (found.kind === 'forbidden') throw forbidden();
    if (found.kind === 'pop3') return undefined;
    // Only a message.list names a page field, so only its result can be a hit.
    if (found.kind === 'hit') return found.page as ImapCommandResults[N];
    return this.exchange(name, payload.accountId, async (id) => {
      await this.pushFast(this.fastRequest(id, name, payload, found.ticket));
      return true;
    });
  }

  /**
   * Onto the fetchers' request list. While no fetcher reads it, it stays bounded: capped, and
   * expiring with the command timeout (requests nobody waits for any more go).
   */
  private async pushFast(request: FastCommandRequest): Promise<void> {
    await this.redis.client
      .multi()
      .lpush(redisKeys.commandRequests, JSON.stringify(request))
      .ltrim(redisKeys.commandRequests, 0, FAST_REQUESTS_MAX - 1)
      .pexpire(redisKeys.commandRequests, this.settings.timeoutMs)
      .exec();
  }

  /** A command whose account the caller has checked already. */
  private async run<N extends CommandName>(name: N, payload: JobPayloadOf<QueueName.ImapCommands, N>): Promise<ImapCommandResults[N]> {
    const result = await this.exchange(name, payload.accountId, async (id) => {
      if (isFastCommand(name)) {
        // Read-only: straight to a fetcher, not through BullMQ (see FAST_COMMANDS in contracts).
        await this.pushFast(this.fastRequest(id, name, payload));
      } else {
        await this.queue.add(QueueName.ImapCommands, name, { ...payload, replyTo: this.replyTo }, {
          jobId: id,
          // A flag change or a fetch is safe to repeat; a client waits, so retries are few and quick.
          attempts: 2,
          backoff: { type: 'fixed', delay: 200 },
          // The job holds no result (it was published); finished jobs need not stay long.
          removeOnComplete: { age: 60 },
          removeOnFail: { age: 24 * 3600 },
        });
      }
      return true;
    });
    if (result === undefined) throw new Error(`${name} was not sent`);
    return result;
  }

  private fastRequest<N extends FastCommandName>(id: string, name: N, payload: JobPayloadOf<QueueName.ImapCommands, N>, page?: FastCommandPageTicket): FastCommandRequest {
    return { id, name, replyTo: this.replyTo, deadline: Date.now() + this.settings.timeoutMs, payload, ...(page ? { page } : {}) } as FastCommandRequest;
  }

  /**
   * Registers a waiting command under a new id, lets `send` send it, and waits for the reply on
   * this gateway's channel. `send` resolving false means nothing was sent: undefined. A
   * CommandError from `send` (e.g. `forbidden`) is the client's answer.
   */
  private async exchange<N extends CommandName>(name: N, accountId: string, send: (id: string) => Promise<boolean>): Promise<ImapCommandResults[N] | undefined> {
    // Unique across gateways (the random channel id) and within this one (the sequence).
    const jobId = `${this.replyTo}-${(this.sequence++).toString(36)}`;
    const answer = new Promise<Settlement>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(jobId);
        resolve('timeout');
      }, this.settings.timeoutMs);
      this.pending.set(jobId, (settlement) => {
        clearTimeout(timer);
        resolve(settlement);
      });
    });
    try {
      if (!(await send(jobId))) {
        this.pending.get(jobId)?.('unsent');
        this.pending.delete(jobId);
      }
    } catch (err) {
      this.pending.get(jobId)?.(err as Error);
      this.pending.delete(jobId);
    }
    const reply = await answer;
    if (reply === 'unsent') return undefined;
    if (reply instanceof CommandError) throw reply;
    if (reply === 'timeout') {
      this.logger.warn({ msg: 'imap command timed out', command: name, jobId, accountId });
      throw new CommandError('internal', 'the mail server did not answer in time');
    }
    if (reply instanceof Error) {
      // The enqueue failed (Redis), or the gateway is shutting down.
      this.logger.warn({ msg: 'imap command not answered', command: name, jobId, accountId, err: reply });
      throw new CommandError('internal', 'the mail server command failed');
    }
    if (!reply.ok) {
      if (reply.code === 'not_found') throw new CommandError('not_found', name === ImapCommandJobName.Flag || name === ImapCommandJobName.Get ? 'no such message' : 'no such mailbox');
      // The fetcher logged why; the job stays in the failed set for a day.
      this.logger.warn({ msg: 'imap command failed', command: name, jobId, accountId });
      throw new CommandError('internal', 'the mail server command failed');
    }
    if ('result' in reply) return reply.result as ImapCommandResults[N];
    // Too large to publish: read once and gone (a whole message for message.get does not stay in Redis).
    const json = await this.redis.client.getdel(redisKeys.commandResult(reply.ref));
    if (json === null) {
      this.logger.warn({ msg: 'imap command result expired before it was read', command: name, jobId, ttlSeconds: COMMAND_RESULT_TTL_SECONDS });
      throw new CommandError('internal', 'the mail server command failed');
    }
    return JSON.parse(json) as ImapCommandResults[N];
  }

  /** An answer on the reply channel: settles the waiting command, if it still waits (else it timed out). */
  private onReply(message: string): void {
    let reply: CommandReply;
    try {
      reply = JSON.parse(message) as CommandReply;
    } catch (err) {
      this.logger.warn({ msg: 'ignored malformed command reply', err });
      return;
    }
    if (typeof reply !== 'object' || reply === null || typeof reply.id !== 'string' || typeof reply.ok !== 'boolean') {
      this.logger.warn({ msg: 'ignored malformed command reply' });
      return;
    }
    const settle = this.pending.get(reply.id);
    if (!settle) return;
    this.pending.delete(reply.id);
    settle(reply);
  }

  /**
   * `forbidden` unless the user owns the account; else whether it is a POP3 account. Both reads go
   * out together (one auto-pipelined write, one round trip), as every command needs both.
   */
  private async ownedPop3(accountId: string, userId: string): Promise<boolean> {
    const [owned, protocol] = await Promise.all([this.accounts.isOwnedBy(accountId, userId), this.accounts.protocolOf(accountId)]);
    if (!owned) throw forbidden();
    return protocol === 'pop3';
  }

  private assertPop3Inbox(mailbox: string): void {
    if (mailbox !== POP3_MAILBOX) throw pop3Unsupported(`folders other than ${POP3_MAILBOX}`);
  }

  private async assertOwner(accountId: string, userId: string): Promise<void> {
    if (!(await this.accounts.isOwnedBy(accountId, userId))) throw forbidden();
  }
}
