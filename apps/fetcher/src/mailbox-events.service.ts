import { Injectable, Logger } from '@nestjs/common';
import { DeletedJob, FetchJob, FlagsJob, MailboxesChangedJob, ResetJob } from '@pushmail/contracts';
import { AppendResult } from '@pushmail/event-log';
import { FetcherMetrics } from './fetcher.metrics';
import { AccountGoneError } from './imap/imap-connection.pool';
import { MessageAssembler } from './fetch/message-assembler';
import { MessageFetcher } from './fetch/message-fetcher';
import { Pop3MailboxReader } from './pop3/pop3-mailbox.reader';
import { MessageLog } from './store/message-log';
import { OrderSlot, UidOrderGate } from './fetch/uid-order-gate';

/** Thrown so the queue retries later: the server announced the UID but does not show it yet. */
export class MessageNotVisibleError extends Error {
  constructor(uid: number) {
    super(`message uid ${uid} is not visible on the server yet`);
    this.name = 'MessageNotVisibleError';
  }
}

const ACCOUNT_GONE = 'account deleted';

export type FetchResult = { outcome: 'appended' | 'duplicate'; eventId: string } | { outcome: 'dropped'; reason: string };

/** What the watcher's mailbox jobs mean: fetch-parse-store-append, and the flag, delete and reset events. */
@Injectable()
export class MailboxEventsService {
  private readonly logger = new Logger(MailboxEventsService.name);
  private readonly appendOrder = new UidOrderGate();

  constructor(
    private readonly fetcher: MessageFetcher,
    private readonly assembler: MessageAssembler,
    private readonly store: MessageLog,
    private readonly metrics: FetcherMetrics,
    private readonly pop3: Pop3MailboxReader,
  ) {}

  async fetchNew(job: FetchJob): Promise<FetchResult> {
    const slot = this.appendOrder.enter(`${job.accountId}\n${job.mailbox}`, job.uid);
    try {
      return await this.fetchNewInOrder(job, slot);
    } finally {
      slot.leave();
    }
  }

  private async fetchNewInOrder(job: FetchJob, slot: OrderSlot): Promise<FetchResult> {
    const { accountId, mailbox, uidValidity, uid } = job;
    let outcome;
    let pop3 = false;
    try {
      pop3 = await this.pop3.handles(accountId);
      const ref = { accountId, mailbox, uidValidity, uid, seenAt: job.seenAt };
      outcome = await this.metrics.time('fetch', () => (pop3 ? this.pop3.fetch(ref) : this.fetcher.fetch(ref)));
    } catch (err) {
      if (err instanceof AccountGoneError) return this.drop(job, ACCOUNT_GONE);
      throw err;
    }
    switch (outcome.status) {
      case 'expunged':
        return this.drop(job, 'expunged before it could be fetched');
      case 'stale':
        return this.drop(job, `uidValidity is now ${outcome.currentUidValidity}`);
      case 'not-visible':
        throw new MessageNotVisibleError(uid);
    }
    const fetched = outcome.message;
    let parsed = await this.metrics.time('parse', () => this.assembler.assembleSerialized({ accountId, mailbox, uidValidity }, fetched));
    // POP3 serves parts from the raw message (part ids are the parser's own), never BODYSTRUCTURE.
    if (parsed.partIdsUncertain && !pop3) {
      // Rare (defective mail with attachments): the gateway serves parts by the server's numbers.
      this.metrics.structureFetches.inc();
      const structure = await this.metrics.time('fetch', () => this.fetcher.fetchStructure({ accountId, mailbox, uidValidity, uid }));
      if (structure) parsed = await this.metrics.time('parse', () => this.assembler.assembleSerialized({ accountId, mailbox, uidValidity }, { ...fetched, structure }));
    }
    await slot.waitForEarlier();
    const appended = await this.metrics.time('store', () => this.store.appendNew(parsed, job.seenAt));
    if (appended.cancelled) return this.resultOf(job, appended);
    if (!appended.duplicate && job.seenAt) this.metrics.existsToAppend.observe(Date.now() - job.seenAt);
    // The later path's enqueue was a no-op against this job, so its `via` says who saw the message first.
    if (!appended.duplicate) this.metrics.firstSeen.inc({ via: job.via ?? 'idle' });
    return { outcome: appended.duplicate ? 'duplicate' : 'appended', eventId: appended.eventId };
  }

  async flagsChanged(job: FlagsJob, jobId: string): Promise<FetchResult> {
    return this.resultOf(job, await this.store.appendFlags(job, job.uid, job.flags, job.modseq ?? jobId));
  }

  async deleted(job: DeletedJob): Promise<FetchResult> {
    return this.resultOf(job, await this.store.appendDeleted(job, job.uid));
  }

  async reset(job: ResetJob): Promise<FetchResult> {
    return this.resultOf(job, await this.store.appendReset(job, job.previousUidValidity));
  }

  async mailboxesChanged(job: MailboxesChangedJob): Promise<FetchResult> {
    return this.resultOf({ ...job, mailbox: '' }, await this.store.appendMailboxesChanged(job.accountId, job.changeId));
  }

  /** The job's result from its append; only a new message's append can meet its deletion (`logged`). */
  private resultOf(job: { accountId: string; mailbox: string; uid?: number }, appended: AppendResult): FetchResult {
    if (appended.cancelled) return this.drop(job, appended.cancelled === 'gone' ? ACCOUNT_GONE : 'deleted before it was published');
    return { outcome: appended.duplicate ? 'duplicate' : 'appended', eventId: appended.eventId };
  }

  private drop(job: { accountId: string; mailbox: string; uid?: number }, reason: string): FetchResult {
    this.logger.debug({ msg: 'mailbox job dropped', accountId: job.accountId, mailbox: job.mailbox, uid: job.uid, reason });
    return { outcome: 'dropped', reason };
  }
}
