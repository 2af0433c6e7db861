import { Injectable } from '@nestjs/common';
import { MetricsService } from '@pushmail/observability';
import { Counter, Histogram } from 'prom-client';

/** The watcher's metrics; names are fixed because dashboards and the benchmark read them. */
@Injectable()
export class WatcherMetrics {
  readonly reconnects: Counter<string>;
  readonly authFailures: Counter<string>;
  readonly existsToEnqueue: Histogram<string>;
  readonly uidGuesses: Counter<string>;

  constructor(readonly metrics: MetricsService) {
    this.reconnects = metrics.counter('pushmail_imap_reconnects_total', 'IMAP sessions scheduled to reconnect after a drop or a failed attempt');
    this.authFailures = metrics.counter('pushmail_imap_auth_failures_total', 'IMAP logins refused for bad credentials');
    this.existsToEnqueue = metrics.histogram('pushmail_exists_to_enqueue_ms', 'From EXISTS (or a resync) to the fetch jobs being in Redis');
    this.uidGuesses = metrics.counter(
      'pushmail_uid_guesses_total',
      'UIDs enqueued from an EXISTS count before the UID SEARCH, by what the search found: confirmed, gone (expunged meanwhile), withdrawn (not assigned)',
      ['outcome'],
    );
  }

  /** Gauges read from the live sessions and leases when scraped, so nothing is kept in sync by hand. */
  registerGauges(sessionStates: () => Map<string, number>, accountsOwned: () => number): void {
    this.metrics.gauge('pushmail_idle_sessions', 'IMAP mailbox sessions by state', ['state'], function () {
      this.reset();
      for (const [state, count] of sessionStates()) this.set({ state }, count);
    });
    this.metrics.gauge('pushmail_watcher_accounts_owned', 'Accounts this watcher holds a lease for', [], function () {
      this.set(accountsOwned());
    });
  }
}
