import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import { FetchJob, MailNotification, MailNotificationResult, MailboxJobName, QueueName, WATCH_ALL_FOLDERS, jobIds } from '@pushmail/contracts';
import { MailboxValidities } from '@pushmail/mailbox-cursors';
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
    private readonly validities: MailboxValidities,
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
    // Every lookup and check of the request runs at once (see watches()).
    const covered = new Map<string, Promise<boolean>>();
    // Promise.all: a failed read (Redis away) rejects the request once, never an unhandled rejection.
    const targets = await Promise.all(
      notifications.map(async (n, i) => {
        const accounts = await lookups[i];
        const watched = await Promise.all(accounts.map((account) => this.watches(account, n.mailbox, covered)));
        return { known: accounts.length > 0, watching: accounts.filter((_, j) => watched[j]) };
      }),
    );
    const planned: Planned[] = [];
    let unmapped = 0;
    for (const [i, n] of notifications.entries()) {
      const { known, watching } = targets[i];
      if (!watching.length) {
        unmapped++;
        this.metrics.unmapped.inc({ source: source.name, reason: known ? 'mailbox_not_watched' : 'unknown_login' });
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

  /**
   * Whether the account watches the notified folder. A named folder is watched. Under `"*"`, INBOX
   * always is; another folder only when the account's watcher keeps a cursor for it, i.e. when its
   * own LIST found the folder and did not skip it for its special use (\All, \Junk, \Trash): a
   * notification names the folder, never its special use, and a \Junk delivery pushed here would
   * be one the watcher's sync skips. A folder created since the watcher last listed gets its first
   * mail through the watcher (NOTIFY or the sweep), as does any folder while no watcher has synced
   * the account. One Redis read per account and folder of a request, for folders other than INBOX.
   */
  private watches(account: { id: string; mailboxes: string[] }, mailbox: string, covered: Map<string, Promise<boolean>>): Promise<boolean> {
    if (account.mailboxes.includes(mailbox)) return Promise.resolve(true);
    if (!account.mailboxes.includes(WATCH_ALL_FOLDERS)) return Promise.resolve(false);
    if (mailbox.toUpperCase() === 'INBOX') return Promise.resolve(true);
    const key = `${account.id}\n${mailbox}`;
    let answer = covered.get(key);
    if (!answer) covered.set(key, (answer = this.validities.get(account.id, mailbox).then((v) => v !== null)));
    return answer;
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
