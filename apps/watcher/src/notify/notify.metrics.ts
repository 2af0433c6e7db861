import { Injectable } from '@nestjs/common';
import { MetricsService } from '@pushmail/observability';
import { Counter } from 'prom-client';

/** The push-notification ingress's metrics; names are fixed because dashboards and tests read them. */
@Injectable()
export class NotifyMetrics {
  readonly received: Counter<string>;
  readonly mapped: Counter<string>;
  readonly unmapped: Counter<string>;
  readonly duplicates: Counter<string>;
  readonly rejected: Counter<string>;

  constructor(metrics: MetricsService) {
    this.received = metrics.counter('pushmail_notify_received_total', 'Mail-server push notifications received, by source', ['source']);
    this.mapped = metrics.counter('pushmail_notify_mapped_total', 'Fetch jobs a push notification enqueued (one per account watching the mailbox), by source', ['source']);
    this.unmapped = metrics.counter(
      'pushmail_notify_unmapped_total',
      'Push notifications that matched no account: unknown_login (no account has that user on the source\'s hosts) or mailbox_not_watched',
      ['source', 'reason'],
    );
    this.duplicates = metrics.counter('pushmail_notify_duplicates_total', 'Push notifications whose fetch job already existed (IDLE or an earlier notification got there first), by source', ['source']);
    this.rejected = metrics.counter('pushmail_notify_rejected_total', 'Requests to the ingress refused: unauthorized (401) or bad_request (400, or 413 over the body limit)', ['reason']);
  }
}
