import { Injectable, Logger } from '@nestjs/common';
import { DeletedJob, FetchJob, FlagsJob, MailboxesChangedJob, ResetJob } from '@pushmail/contracts';
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
      if (err instanceof AccountGoneError) return this.drop(job, 'account deleted');
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
    if (!(await this.store.accountExists(accountId))) return this.drop(job, 'account deleted');
    const appended = await this.metrics.time('store', () => this.store.appendNew(parsed, job.seenAt));
    if (appended.cancelled) return this.drop(job, 'deleted before it was published');
    if (!appended.duplicate && job.seenAt) this.metrics.existsToAppend.observe(Date.now() - job.seenAt);
    // The later path's enqueue was a no-op against this job, so its `via` says who saw the message first.
    if (!appended.duplicate) this.metrics.firstSeen.inc({ via: job.via ?? 'idle' });
    return { outcome: appended.duplicate ? 'duplicate' : 'appended', eventId: appended.eventId };
  }

  async flagsChanged(job: FlagsJob, jobId: string): Promise<FetchResult> {
    if (!(await this.store.accountExists(job.accountId))) return this.drop(job, 'account deleted');
    const { eventId, duplicate } = await this.store.appendFlags(job, job.uid, job.flags, job.modseq ?? jobId);
    return { outcome: duplicate ? 'duplicate' : 'appended', eventId };
  }

  async deleted(job: DeletedJob): Promise<FetchResult> {
    if (!(await this.store.accountExists(job.accountId))) return this.drop(job, 'account deleted');
    const { eventId, duplicate } = await this.store.appendDeleted(job, job.uid);
    return { outcome: duplicate ? 'duplicate' : 'appended', eventId };
  }

  async reset(job: ResetJob): Promise<FetchResult> {
    if (!(await this.store.accountExists(job.accountId))) return this.drop(job, 'account deleted');
    const { eventId, duplicate } = await this.store.appendReset(job, job.previousUidValidity);
    return { outcome: duplicate ? 'duplicate' : 'appended', eventId };
  }

  async mailboxesChanged(job: MailboxesChangedJob): Promise<FetchResult> {
    if (!(await this.store.accountExists(job.accountId))) return this.drop({ ...job, mailbox: '' }, 'account deleted');
    const { eventId, duplicate } = await this.store.appendMailboxesChanged(job.accountId, job.changeId);
    return { outcome: duplicate ? 'duplicate' : 'appended', eventId };
  }

  private drop(job: { accountId: string; mailbox: string; uid?: number }, reason: string): FetchResult {
    this.logger.debug({ msg: 'mailbox job dropped', accountId: job.accountId, mailbox: job.mailbox, uid: job.uid, reason });
    return { outcome: 'dropped', reason };
  }
}
