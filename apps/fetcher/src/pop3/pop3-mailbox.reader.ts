import { Injectable, Logger } from '@nestjs/common';
import { StoredPop3Account } from '@pushmail/accounts';
import { DEFAULT_PAGE_SIZE, FlagCommandJob, ImapCommandJobName, ImapCommandResults, MessageDeleteJob, MessageListJob, MessagePage, MessageSummary, ParsedMessage } from '@pushmail/contracts';
import { Pop3Client, Pop3ClientFactory, Pop3UidStore } from '@pushmail/pop3';
import { randomBytes } from 'node:crypto';
import { RecentAccounts } from '../accounts/recent-accounts';
import { MessageLimits, Pop3RawSettings } from '../settings';
import { MessageNotFoundError } from '../errors';
import { MessageAssembler } from '../fetch/message-assembler';
import { MessageLog } from '../store/message-log';
import { FetchOutcome, MessageRef } from '../fetch/message-fetcher';
import { AccountGoneError } from '../imap/imap-connection.pool';

/** Lines of body TOP returns with the header of a message above MAX_MESSAGE_BYTES. */
const TOP_BODY_LINES = 400;
/** Accounts whose protocol is remembered (it never changes: PATCH cannot turn IMAP into POP3). */
const PROTOCOL_CACHE_MAX = 50_000;

interface AccountQueue {
  tail: Promise<unknown>;
  waiting: number;
  client?: Pop3Client;
}

/**
 * Reads POP3 mail for the fetch path: the uid → UIDL mapping the watcher keeps
 * (Pop3UidStore), then UIDL on the server for the session's message number, then RETR (or TOP,
 * header and first lines, above MAX_MESSAGE_BYTES). The result is a FetchOutcome like the IMAP
 * fetcher's, so parse, sanitize, store and event log are the same code.
 *
 * One POP3 session per account in this process at a time (servers lock or limit concurrent
 * sessions per mailbox): jobs for the same account queue behind it and reuse the open session,
 * which QUITs when the queue is empty. Nothing is ever marked for deletion here, so QUIT changes
 * nothing on the server.
 */
@Injectable()
export class Pop3MailboxReader {
  private readonly logger = new Logger(Pop3MailboxReader.name);
  private readonly protocols = new Map<string, 'imap' | 'pop3'>();
  private readonly queues = new Map<string, AccountQueue>();

  constructor(
    private readonly accounts: RecentAccounts,
    private readonly factory: Pop3ClientFactory,
    private readonly uids: Pop3UidStore,
    private readonly store: MessageLog,
    private readonly assembler: MessageAssembler,
    private readonly limits: MessageLimits,
    private readonly raw: Pop3RawSettings,
  ) {}

  /** Whether the account is a POP3 account (one account read, shared through RecentAccounts, then remembered). */
  async handles(accountId: string): Promise<boolean> {
    let protocol = this.protocols.get(accountId);
    if (!protocol) {
      const account = await this.accounts.get(accountId);
      // A missing account is left to the IMAP path, which drops the job as 'account deleted'.
      if (!account) return false;
      protocol = account.protocol;
      if (this.protocols.size >= PROTOCOL_CACHE_MAX) this.protocols.clear();
      this.protocols.set(accountId, protocol);
    }
    return protocol === 'pop3';
  }

  async fetch(ref: MessageRef): Promise<FetchOutcome> {
    const uidl = await this.uids.uidlOf(ref.accountId, ref.uidValidity, ref.uid);
    if (uidl === null) {
      const current = (await this.uids.list(ref.accountId)).uidValidity;
      return current !== null && current !== ref.uidValidity ? { status: 'stale', currentUidValidity: current } : { status: 'expunged' };
    }
    return this.withSession(ref.accountId, async (client) => {
      const msg = (await client.uidl()).find((e) => e.uid === uidl)?.msg;
      // Deleted on the server (by another client) since the poll: the next poll reports it gone.
      if (msg === undefined) return { status: 'expunged' };
      const size = (await client.list()).find((e) => e.msg === msg)?.size ?? 0;
      const oversized = size > this.limits.maxMessageBytes;
      const source = oversized ? await client.top(msg, TOP_BODY_LINES, this.limits.maxMessageBytes) : await client.retr(msg, this.limits.maxMessageBytes + 64 * 1024);
      // For attachment downloads (the gateway cuts parts out of it); a TOP excerpt has no attachments to serve.
      if (!oversized && source.length <= this.raw.keepBytes) await this.uids.keepRaw(ref.accountId, ref.uidValidity, ref.uid, source, this.raw.keepSeconds);
      const flags = (await this.uids.flagsOf(ref.accountId, [ref.uid])).get(ref.uid) ?? [];
      // What pop3.deleteAfterDays counts from (the watcher's poller deletes).
      await this.uids.markFetched(ref.accountId, ref.uid);
      // POP3 has no arrival date: the fetch time stands in (the Date header is the sender's claim).
      return { status: 'found', message: { uid: ref.uid, flags, internalDate: new Date(), size, source } };
    });
  }

  /** The account's current uidValidity; MessageNotFoundError before its first poll (no message has a uid yet). */
  async uidValidityOf(accountId: string, mailbox: string, uid: number): Promise<number> {
    const uidValidity = await this.uids.uidValidity(accountId);
    if (uidValidity === null) throw new MessageNotFoundError(mailbox, uid);
    return uidValidity;
  }

  /**
   * `\Seen` / `\Flagged` kept by pushmail (the gateway refuses other flags): changed in Redis,
   * then a `message.flags` event like an IMAP flag change's, so every client sees it.
   */
  async flag(job: FlagCommandJob): Promise<ImapCommandResults[ImapCommandJobName.Flag]> {
    const uidValidity = await this.uidValidityOf(job.accountId, job.mailbox, job.uid);
    const flags = await this.uids.changeFlags(job.accountId, uidValidity, job.uid, job.add, job.remove);
    if (flags === null) throw new MessageNotFoundError(job.mailbox, job.uid);
    await this.store.appendFlags({ accountId: job.accountId, mailbox: job.mailbox, uidValidity }, job.uid, flags, `pop3.${Date.now()}.${randomBytes(4).toString('hex')}`);
    return { flags };
  }

  /**
   * DELE, committed by QUIT before answering: the server has removed the messages once the client
   * hears so. Their `message.deleted` events come from the watcher's next poll, as for a deletion
   * by any other client. uids the server no longer holds are left out of `deleted`.
   */
  async delete(job: MessageDeleteJob): Promise<ImapCommandResults[ImapCommandJobName.MessageDelete]> {
    const uidValidity = await this.uidValidityOf(job.accountId, job.mailbox, job.uids[0]);
    const wanted = new Map<string, number>();
    for (const uid of job.uids) {
      const uidl = await this.uids.uidlOf(job.accountId, uidValidity, uid);
      if (uidl !== null) wanted.set(uidl, uid);
    }
    if (!wanted.size) return { deleted: [] };
    return this.withSession(job.accountId, async (client) => {
      const deleted: number[] = [];
      for (const entry of await client.uidl()) {
        const uid = wanted.get(entry.uid);
        if (uid === undefined) continue;
        await client.dele(entry.msg);
        deleted.push(uid);
      }
      await client.quit();
      return { deleted: deleted.sort((a, b) => a - b) };
    });
  }

  /**
   * `message.list` for POP3 INBOX: the uids of the watcher's mapping (what the server held at the
   * last poll), newest first, paged by `before` like IMAP's. A message fetched before is summarised
   * from its stored copy; any other from its header (TOP n 0) in one session, so mail that was
   * already on the server when the account was added is listed without being pushed as new.
   */
  async list(job: MessageListJob): Promise<MessagePage> {
    const limit = job.limit ?? DEFAULT_PAGE_SIZE;
    const { uidValidity, uids } = await this.uids.list(job.accountId);
    if (uidValidity === null || !uids.length) return { messages: [], nextBefore: null, total: 0 };
    const ref = { accountId: job.accountId, mailbox: job.mailbox, uidValidity };
    const older = uids.filter((uid) => job.before === undefined || uid < job.before).reverse();
    const pageUids = older.slice(0, limit);
    const flags = await this.uids.flagsOf(job.accountId, pageUids);
    const found = new Map<number, ParsedMessage>();
    const missing: number[] = [];
    for (const uid of pageUids) {
      const stored = await this.store.find(ref, uid);
      if (stored) found.set(uid, stored);
      else missing.push(uid);
    }
    if (missing.length) {
      const uidls = new Map<string, number>();
      for (const uid of missing) {
        const uidl = await this.uids.uidlOf(job.accountId, uidValidity, uid);
        if (uidl !== null) uidls.set(uidl, uid);
      }
      const headers = await this.withSession(job.accountId, async (client) => {
        const sizes = new Map((await client.list()).map((e) => [e.msg, e.size]));
        const read: Array<{ uid: number; size: number; source: Buffer }> = [];
        for (const entry of await client.uidl()) {
          const uid = uidls.get(entry.uid);
          if (uid !== undefined) read.push({ uid, size: sizes.get(entry.msg) ?? 0, source: await client.top(entry.msg, 0, 256 * 1024) });
        }
        return read;
      });
      for (const h of headers) found.set(h.uid, await this.assembler.assemble(ref, { uid: h.uid, flags: [], internalDate: new Date(), size: h.size, source: h.source }));
    }
    // A uid the server dropped since the last poll is left out (its message.deleted follows).
    const messages = pageUids.flatMap((uid) => {
      const m = found.get(uid);
      return m ? [toSummary(m, flags.get(uid) ?? [])] : [];
    });
    const more = older.length > pageUids.length;
    return { messages, nextBefore: more ? pageUids[pageUids.length - 1] : null, total: uids.length };
  }

  /** Runs `work` on the account's session, opening one if none is open; serial per account. */
  private async withSession<T>(accountId: string, work: (client: Pop3Client) => Promise<T>): Promise<T> {
    let queue = this.queues.get(accountId);
    if (!queue) {
      queue = { tail: Promise.resolve(), waiting: 0 };
      this.queues.set(accountId, queue);
    }
    const q = queue;
    q.waiting++;
    const run = q.tail.then(async () => {
      try {
        if (!q.client || q.client.closed) q.client = await this.factory.connect(await this.settings(accountId), {}, accountId);
        return await work(q.client);
      } catch (err) {
        // The session's state is unknown after a failure: never reuse it.
        q.client?.close();
        q.client = undefined;
        throw err;
      } finally {
        if (--q.waiting === 0) {
          const client = q.client;
          q.client = undefined;
          this.queues.delete(accountId);
          if (client) void client.quit().catch((err: unknown) => this.logger.debug({ msg: 'pop3 quit failed', accountId, err }));
        }
      }
    });
    q.tail = run.catch(() => undefined);
    return run;
  }

  private async settings(accountId: string): Promise<StoredPop3Account['pop3']> {
    const account = await this.accounts.get(accountId);
    if (!account) throw new AccountGoneError(accountId);
    if (account.protocol !== 'pop3') throw new Error(`account ${accountId} is not a POP3 account`);
    return account.pop3;
  }
}

function toSummary(m: ParsedMessage, flags: string[]): MessageSummary {
  const address = (a: { name: string; address: string }) => ({ name: a.name, address: a.address });
  return {
    accountId: m.accountId,
    mailbox: m.mailbox,
    uidValidity: m.uidValidity,
    uid: m.uid,
    messageId: m.messageId,
    subject: m.subject,
    from: m.from ? address(m.from) : null,
    to: m.to.map(address),
    cc: m.cc.map(address),
    date: m.date,
    flags,
    size: m.size,
    preview: m.preview,
    hasAttachments: m.attachments.length > 0,
  };
}
