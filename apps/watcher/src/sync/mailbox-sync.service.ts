import { Injectable, OnModuleInit } from '@nestjs/common';
import { JobPayloadOf, MailboxJobName, QueueName, jobIds } from '@pushmail/contracts';
import { QueueService } from '@pushmail/queue';
import { randomBytes } from 'node:crypto';
import type { JobsOptions } from 'bullmq';
import { CursorStore, MailboxCursor } from '@pushmail/mailbox-cursors';

export type MailboxChange =
  | { kind: 'flags'; uid: number; flags: string[]; modseq?: string }
  | { kind: 'deleted'; uid: number };

export interface MailboxBatch {
  newUids?: number[];
  /** When the EXISTS (or the resync) that found `newUids` arrived. */
  seenAt?: number;
  changes?: MailboxChange[];
  reset?: { previousUidValidity: number };
}

export interface MailboxRef {
  accountId: string;
  mailbox: string;
  /** The lease value cursor writes are fenced with. */
  leaseValue: string;
}

type MailboxJob = {
  [N in MailboxJobName]: { name: N; data: JobPayloadOf<QueueName.MailboxEvents, N>; opts: JobsOptions };
}[MailboxJobName];

/** BullMQ adds a bulk in one MULTI; chunks keep a huge resync from building one giant transaction. */
const BULK_CHUNK = 500;

/**
 * Turns what a mailbox session saw into jobs with deterministic ids, and keeps the cursor.
 * Callers enqueue first and save the cursor after, so a crash in between repeats work (deduped
 * by job id) and never loses any.
 */
@Injectable()
export class MailboxSyncService implements OnModuleInit {
  constructor(
    private readonly queues: QueueService,
    private readonly cursors: CursorStore,
  ) {}

  /**
   * Opens the producer at boot and waits for its connection, so neither the first mail's job nor
   * the queue-depth metrics wait for a Redis handshake.
   */
  async onModuleInit(): Promise<void> {
    await this.queues.queue(QueueName.MailboxEvents).waitUntilReady();
  }

  static jobsFor(ref: MailboxRef, uidValidity: number, batch: MailboxBatch): MailboxJob[] {
    const { accountId, mailbox } = ref;
    const base = { accountId, mailbox, uidValidity };
    const jobs: MailboxJob[] = [];
    if (batch.reset) {
      jobs.push({
        name: MailboxJobName.Reset,
        data: { ...base, previousUidValidity: batch.reset.previousUidValidity },
        opts: { jobId: jobIds.reset(accountId, mailbox, uidValidity) },
      });
    }
    for (const change of batch.changes ?? []) {
      if (change.kind === 'deleted') {
        jobs.push({ name: MailboxJobName.Deleted, data: { ...base, uid: change.uid }, opts: { jobId: jobIds.deleted(accountId, mailbox, uidValidity, change.uid) } });
      } else {
        // Without CONDSTORE there is no modseq to dedupe on; a unique id keeps a flag that is set,
        // cleared and set again from colliding with its own earlier (completed) job.
        const version = change.modseq ?? `t${Date.now()}.${randomBytes(4).toString('hex')}`;
        const data = change.modseq ? { ...base, uid: change.uid, flags: change.flags, modseq: change.modseq } : { ...base, uid: change.uid, flags: change.flags };
        jobs.push({ name: MailboxJobName.Flags, data, opts: { jobId: jobIds.flags(accountId, mailbox, uidValidity, change.uid, version) } });
      }
    }
    for (const uid of batch.newUids ?? []) {
      const data = batch.seenAt ? { ...base, uid, seenAt: batch.seenAt } : { ...base, uid };
      jobs.push({ name: MailboxJobName.Fetch, data, opts: { jobId: jobIds.fetch(accountId, mailbox, uidValidity, uid) } });
    }
    return jobs;
  }

  async enqueue(ref: MailboxRef, uidValidity: number, batch: MailboxBatch): Promise<number> {
    const jobs = MailboxSyncService.jobsFor(ref, uidValidity, batch);
    // The common case, one new message: a plain add is one script call, a bulk wraps it in MULTI/EXEC.
    if (jobs.length === 1) {
      const [job] = jobs;
      await this.queues.add(QueueName.MailboxEvents, job.name, job.data, job.opts);
      return 1;
    }
    for (let i = 0; i < jobs.length; i += BULK_CHUNK) {
      await this.queues.addBulk(QueueName.MailboxEvents, jobs.slice(i, i + BULK_CHUNK));
    }
    return jobs.length;
  }

  /**
   * Takes back fetch jobs of guessed UIDs the server does not have. A job the fetcher holds cannot
   * be removed; it is tried again once the fetcher has let go of it (its retry waits in "delayed").
   *
   * Meanwhile the UID may be assigned to a real message (the next delivery takes it) and confirmed
   * by a UID SEARCH, whose enqueue is a no-op while the guessed job still exists. A later attempt
   * must then leave the job alone, and one that removed it just as the search confirmed it puts it
   * back: the chaos test lost messages to this (a guessed job removed 2 s after its UID became real).
   * `stillUnassigned` answers from the session's own searches.
   */
  async withdraw(ref: MailboxRef, uidValidity: number, uids: number[], stillUnassigned: (uid: number) => boolean, attempts = [0, 2000, 10_000, 60_000]): Promise<void> {
    let left = uids;
    for (const delay of attempts) {
      if (delay) await new Promise((r) => setTimeout(r, delay).unref());
      left = left.filter(stillUnassigned);
      const removed = await Promise.all(
        left.map(async (uid) => {
          const ok = await this.queues.remove(QueueName.MailboxEvents, jobIds.fetch(ref.accountId, ref.mailbox, uidValidity, uid), ref.accountId).catch(() => false);
          if (ok && !stillUnassigned(uid)) await this.enqueue(ref, uidValidity, { newUids: [uid] });
          return ok;
        }),
      );
      left = left.filter((_, i) => !removed[i]);
      if (!left.length) return;
    }
  }

  /**
   * Tells clients that the account's folders changed (`mailboxes.changed`, appended by the fetcher).
   * The change id is made once per change seen, so a retried job appends once.
   */
  async mailboxesChanged(accountId: string): Promise<void> {
    const changeId = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
    await this.queues.add(QueueName.MailboxEvents, MailboxJobName.MailboxesChanged, { accountId, changeId }, { jobId: jobIds.mailboxesChanged(accountId, changeId) });
  }

  getCursor(ref: MailboxRef): Promise<MailboxCursor | null> {
    return this.cursors.get(ref.accountId, ref.mailbox);
  }

  saveCursor(ref: MailboxRef, cursor: MailboxCursor): Promise<void> {
    return this.cursors.save(ref.accountId, ref.mailbox, cursor, ref.leaseValue);
  }
}
