import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import { FetchJob, MailNotification, MailNotificationResult, MailboxJobName, QueueName, WATCH_ALL_FOLDERS, jobIds } from '@pushmail/contracts';
import { QueueService } from '@pushmail/queue';
import type { JobsOptions } from 'bullmq';
import { NotifySource, NotifySourceMatcher } from './notify-sources';
import { NotifyMetrics } from './notify.metrics';
import { TurnBatcher } from './turn-batcher';

interface Planned {
  job: { name: MailboxJobName.Fetch; data: FetchJob; opts: JobsOptions & { jobId: string } };
}

/**
 * Turns a mail server's push notifications into fetch jobs. Any watcher can do it (no lease): the
 * job id is the one the IDLE path uses for the same message ({@link jobIds.fetch}), so whichever
 * path enqueues second is a no-op and the message is fetched and pushed once.
 */
@Injectable()
export class NotifyService implements OnApplicationBootstrap {
  private readonly logger = new Logger(NotifyService.name);
  /**
   * The fetch jobs of every request in one event-loop turn go to Redis together: EXISTS (for the
   * duplicates metric) and the add, written back to back in one round trip. Under a burst of
   * notifications that is one write per turn instead of one per request, which is most of what a
   * job add costs the watcher; a lone notification pays one round trip (a check then an add took two).
   */
  private readonly adds = new TurnBatcher<Planned['job'], boolean>((jobs) => this.addJobs(jobs));

  constructor(
    private readonly accounts: AccountRepository,
    private readonly queues: QueueService,
    private readonly metrics: NotifyMetrics,
    private readonly matcher: NotifySourceMatcher,
  ) {}

  /**
   * Accounts stored before the mailbox index existed are added to it at start, in the background:
   * idempotent, and cheap next to a watcher's logins. Account writes keep the index up to date after.
   */
  onApplicationBootstrap(): void {
    if (!this.matcher.enabled) return;
    void this.accounts
      .backfillMailboxIndex()
      .then(({ indexed, skipped }) => this.logger.log({ msg: 'mailbox index backfilled', indexed, skipped }))
      .catch((err: unknown) => this.logger.error({ msg: 'mailbox index backfill failed; accounts created since still notify', err }));
  }

  async ingest(source: NotifySource, notifications: readonly MailNotification[]): Promise<MailNotificationResult> {
    const seenAt = Date.now();
    this.metrics.received.inc({ source: source.name }, notifications.length);
    // Notifications for the same login (a burst to one mailbox) share one index lookup.
    const byUser = new Map<string, Promise<Array<{ id: string; mailboxes: string[] }>>>();
    const lookups = notifications.map((n) => {
      let lookup = byUser.get(n.user);
      if (!lookup) byUser.set(n.user, (lookup = this.accounts.accountsForLogin(source.imapHosts, n.user)));
      return lookup;
    });
    const planned: Planned[] = [];
    let unmapped = 0;
    for (const [i, n] of notifications.entries()) {
      const accounts = await lookups[i];
      // The ingress cannot tell a folder's special use: under "*" it maps every folder (a \Junk
      // delivery it reports is pushed, which the watcher's own sync would have skipped).
      const watching = accounts.filter((a) => a.mailboxes.includes(n.mailbox) || a.mailboxes.includes(WATCH_ALL_FOLDERS));
      if (!watching.length) {
        unmapped++;
        this.metrics.unmapped.inc({ source: source.name, reason: accounts.length ? 'mailbox_not_watched' : 'unknown_login' });
        continue;
      }
      for (const account of watching) {
        const data: FetchJob = { accountId: account.id, mailbox: n.mailbox, uidValidity: n.uidValidity, uid: n.uid, seenAt, via: 'notify' };
        planned.push({ job: { name: MailboxJobName.Fetch, data, opts: { jobId: jobIds.fetch(account.id, n.mailbox, n.uidValidity, n.uid) } } });
      }
    }
    if (planned.length) await this.enqueue(source, planned);
    return { mapped: planned.length, unmapped };
  }

  private async enqueue(source: NotifySource, planned: Planned[]): Promise<void> {
    const existed = await this.adds.add(planned.map((p) => p.job));
    const duplicates = existed.filter(Boolean).length;
    if (duplicates) this.metrics.duplicates.inc({ source: source.name }, duplicates);
    this.metrics.mapped.inc({ source: source.name }, planned.length - duplicates);
  }

  /**
   * Adds the jobs; answers, per job, whether it existed already (IDLE or an earlier notification).
   * Counted for the metric only: a job that exists already is left as it is by the add, so a race
   * between the check and the add can miscount a duplicate but never enqueue one twice.
   */
  private addJobs(jobs: Array<Planned['job']>): Promise<boolean[]> {
    return this.queues.addBulkReportingExisting(QueueName.MailboxEvents, jobs);
  }
}
