import { Injectable } from '@nestjs/common';
import { MetricsService } from '@pushmail/observability';
import type { Counter, Histogram } from 'prom-client';

export type FetchStage = 'fetch' | 'parse' | 'store';

/** The fetcher's own metrics; queue depth and job durations come from QueueService. */
@Injectable()
export class FetcherMetrics {
  readonly stage: Histogram<string>;
  readonly existsToAppend: Histogram<string>;
  readonly structureFetches: Counter<string>;
  readonly firstSeen: Counter<string>;

  constructor(metrics: MetricsService) {
    this.stage = metrics.histogram('pushmail_fetch_stage_ms', 'Time per fetch stage', ['stage']);
    this.existsToAppend = metrics.histogram('pushmail_exists_to_append_ms', 'From the watcher seeing EXISTS to the event appended');
    this.structureFetches = metrics.counter(
      'pushmail_fetch_structure_fetches_total',
      "Defective messages with attachments whose BODYSTRUCTURE was fetched, so their part numbers are the server's",
    );
    this.firstSeen = metrics.counter(
      'pushmail_messages_first_seen_total',
      "Messages appended, by the path whose fetch job came first: idle (the watcher's IMAP session) or notify (the mail server's push notification)",
      ['via'],
    );
  }

  async time<T>(stage: FetchStage, work: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await work();
    } finally {
      this.stage.observe({ stage }, performance.now() - start);
    }
  }
}
