import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { repoRoot } from './kustomize';

/**
 * The series issue 6 asks every deployment to be able to watch, by the names the apps agreed on,
 * and which app must expose each.
 */
export const REQUIRED_SERIES = [
  { app: 'watcher', name: 'pushmail_idle_sessions', type: 'gauge', labels: ['state'], what: 'IDLE sessions by state' },
  { app: 'watcher', name: 'pushmail_imap_reconnects_total', type: 'counter', labels: [], what: 'reconnects' },
  { app: 'watcher', name: 'pushmail_imap_auth_failures_total', type: 'counter', labels: [], what: 'auth failures' },
  { app: 'watcher', name: 'pushmail_exists_to_enqueue_ms', type: 'histogram', labels: [], what: 'EXISTS → job enqueued' },
  { app: 'watcher', name: 'pushmail_watcher_accounts_owned', type: 'gauge', labels: [], what: 'accounts leased' },
  { app: 'watcher', name: 'pushmail_queue_depth', type: 'gauge', labels: ['queue', 'state'], what: 'queue depth (mailbox-events, produced)' },
  { app: 'fetcher', name: 'pushmail_queue_depth', type: 'gauge', labels: ['queue', 'state'], what: 'queue depth' },
  { app: 'fetcher', name: 'pushmail_job_duration_ms', type: 'histogram', labels: ['queue', 'name', 'outcome'], what: 'job durations' },
  { app: 'fetcher', name: 'pushmail_queue_oldest_waiting_age_seconds', type: 'gauge', labels: ['queue'], what: 'oldest waiting job' },
  { app: 'fetcher', name: 'pushmail_fetch_stage_ms', type: 'histogram', labels: ['stage'], what: 'fetch stages' },
  { app: 'fetcher', name: 'pushmail_exists_to_append_ms', type: 'histogram', labels: [], what: 'EXISTS → event appended' },
  { app: 'fetcher', name: 'pushmail_parse_timeouts_total', type: 'counter', labels: [], what: 'parses stopped by the PARSE_TIMEOUT_MS watchdog (issue 14)' },
  { app: 'fetcher', name: 'pushmail_messages_first_seen_total', type: 'counter', labels: ['via'], what: 'messages first seen through the push notification vs IDLE (issue 20)' },
  { app: 'watcher', name: 'pushmail_notify_received_total', type: 'counter', labels: ['source'], what: 'push notifications received (issue 20)' },
  { app: 'watcher', name: 'pushmail_notify_mapped_total', type: 'counter', labels: ['source'], what: 'push notifications turned into fetch jobs (issue 20)' },
  { app: 'watcher', name: 'pushmail_notify_unmapped_total', type: 'counter', labels: ['source', 'reason'], what: 'push notifications matching no account (issue 20)' },
  { app: 'watcher', name: 'pushmail_notify_duplicates_total', type: 'counter', labels: ['source'], what: 'push notifications whose job already existed (issue 20)' },
  { app: 'watcher', name: 'pushmail_oauth_refreshes_total', type: 'counter', labels: ['provider'], what: 'OAuth access tokens refreshed (issue 19)' },
  { app: 'watcher', name: 'pushmail_oauth_refresh_failures_total', type: 'counter', labels: ['reason'], what: 'OAuth refreshes failed, by reason (issue 19)' },
  { app: 'watcher', name: 'pushmail_oauth_token_age_at_login_seconds', type: 'histogram', labels: [], what: 'age of the OAuth token a login presents (issue 19)' },
  { app: 'gateway', name: 'pushmail_event_to_socket_ms', type: 'histogram', labels: [], what: 'event-to-socket latency histogram' },
  { app: 'gateway', name: 'pushmail_push_latency_ms', type: 'histogram', labels: [], what: 'push latency (EXISTS → socket emit) histogram' },
  { app: 'gateway', name: 'pushmail_socket_clients', type: 'gauge', labels: [], what: 'connected clients' },
  { app: 'gateway', name: 'pushmail_sends_total', type: 'counter', labels: ['outcome'], what: 'sends by outcome' },
  { app: 'gateway', name: 'pushmail_queue_depth', type: 'gauge', labels: ['queue', 'state'], what: 'queue depth (send queue)' },
  { app: 'gateway', name: 'pushmail_job_duration_ms', type: 'histogram', labels: ['queue', 'name', 'outcome'], what: 'job durations (send queue)' },
] as const;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return entry === 'node_modules' || entry === 'test' ? [] : sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('spec.ts') ? [path] : [];
  });
}

/** Every metric name the apps and libs register through MetricsService, read from their source. */
export function registeredMetricNames(): Set<string> {
  const names = new Set<string>();
  for (const file of [...sourceFiles(join(repoRoot, 'apps')), ...sourceFiles(join(repoRoot, 'libs'))]) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\.(?:histogram|counter|gauge)\(\s*'(pushmail_[a-z0-9_]+)'/g)) names.add(m[1]);
  }
  return names;
}

/** prom-client's default process metrics under MetricsService's prefix. */
export async function defaultMetricNames(): Promise<Set<string>> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pushmail_' });
  const names = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
  registry.clear();
  return names;
}
