export type Status = 'ok' | 'not_run' | 'failed';

export interface TargetCheck {
  measure: string;
  value: number | null;
  unit: string;
  /** Human form, e.g. "≤ 60 KB". */
  target: string;
  /** null: no target, or not measurable in this run. */
  met: boolean | null;
  /**
   * For a target whose measurement was redefined after runs that missed it: `original` is the
   * definition first judged, `current` the one used since. Both are reported side by side, each
   * with its own verdict; `--strict` judges the current one. Absent: never redefined.
   */
  definition?: 'original' | 'current';
}

/** A table in the report: a header row and rows of cells. */
export interface Table {
  title?: string;
  columns: string[];
  rows: Array<Array<string | number | null>>;
}

export interface ScenarioResult {
  id: ScenarioId;
  title: string;
  status: Status;
  reason?: string;
  durationS: number;
  params: Record<string, unknown>;
  /** Key figures, flat, for machines (baseline comparison) — bigger is worse unless listed in HIGHER_IS_BETTER. */
  figures: Record<string, number | null>;
  targets: TargetCheck[];
  tables: Table[];
  notes: string[];
}

export const SCENARIOS = {
  'push-latency': 'Push latency (LMTP ack → message.new at a socket.io client)',
  floor: 'Floor (LMTP ack → EXISTS at a bare imapflow IDLE client)',
  'pipeline-stages': 'Pipeline stages (the apps’ histograms; EXISTS → job in Redis, per job)',
  'watcher-density': 'Watcher density (RSS per IDLE account)',
  startup: 'Startup (watcher start → all accounts connected)',
  'fetch-throughput': 'Fetch throughput (burst → all events appended)',
  'fetch-latency': 'Fetch latency under load (job enqueued → event appended)',
  'parser-throughput': 'Parser-only throughput (postal-mime vs mailparser)',
  'gateway-fanout': 'Gateway fan-out (event appended → socket receives)',
  failover: 'Failover (kill -9 one of 3 watchers)',
  polling: 'Polling baseline (STATUS poller)',
  mailbox: 'Mailbox history (message.list first page and message.search on a big INBOX, beside bare imapflow)',
  'notify-ingress': 'Notification ingress (LMTP ack → message.new through the Dovecot push_notification ingress)',
  pop3: 'POP3 accounts (1,000 polled every 60 s by one watcher: logins per second, RSS per account, delivery → message.new)',
  footprint: 'Redis footprint (MEMORY USAGE per idle account and per logged event; bodies stored once)',
  folders: 'Every folder live (1,000 accounts × 20 folders on one connection each: RSS, sessions, other folder → message.new with and without NOTIFY)',
  'ten-k': '10,000 accounts on this machine (three watchers, one Dovecot)',
} as const;
export type ScenarioId = keyof typeof SCENARIOS;

/** Figures where a bigger number is an improvement (throughputs). */
export const HIGHER_IS_BETTER = /PerS$|Rate$/;

/** Thrown by a scenario whose app (or prerequisite) is not available: reported as "not run". */
export class NotRun extends Error {}

export interface Params {
  accounts: number;
  densityAccounts: [number, number];
  startupAccounts: number;
  rate: number;
  durationS: number;
  floorAccounts: number;
  floorRate: number;
  pollAccounts: number;
  pollIntervalMs: number;
  burstMessages: number;
  burstAccounts: number;
  fetchLatencyRate: number;
  fetchLatencyDurationS: number;
  fanoutClients: number;
  fanoutGateways: number;
  fanoutRate: number;
  fanoutDurationS: number;
  failoverWatchers: number;
  failoverAccounts: number;
  parserMessages: number;
  parserRounds: number;
  socketWorkers: number;
}

export const FULL: Params = {
  accounts: 1000,
  densityAccounts: [1000, 3000],
  startupAccounts: 1000,
  rate: 50,
  durationS: 60,
  floorAccounts: 100,
  floorRate: 10,
  pollAccounts: 250,
  pollIntervalMs: 60_000,
  burstMessages: 5000,
  burstAccounts: 100,
  fetchLatencyRate: 200,
  fetchLatencyDurationS: 15,
  fanoutClients: 5000,
  fanoutGateways: 2,
  fanoutRate: 200,
  fanoutDurationS: 30,
  failoverWatchers: 3,
  failoverAccounts: 300,
  parserMessages: 1000,
  parserRounds: 3,
  socketWorkers: 4,
};

/** A smoke run: every code path, small numbers, about two minutes. Figures are not comparable. */
export const QUICK: Params = {
  accounts: 40,
  densityAccounts: [40, 80],
  startupAccounts: 40,
  rate: 10,
  durationS: 8,
  floorAccounts: 10,
  floorRate: 4,
  pollAccounts: 40,
  pollIntervalMs: 3_000,
  burstMessages: 300,
  burstAccounts: 10,
  fetchLatencyRate: 40,
  fetchLatencyDurationS: 4,
  fanoutClients: 200,
  fanoutGateways: 2,
  fanoutRate: 50,
  fanoutDurationS: 5,
  failoverWatchers: 3,
  failoverAccounts: 30,
  parserMessages: 100,
  parserRounds: 1,
  socketWorkers: 2,
};

export interface BenchContext {
  quick: boolean;
  p: Params;
  secretKey: string;
  jwtSecret: string;
  log: (msg: string) => void;
  /** Latency samples (ms) by series name, for the chart. */
  distributions: Record<string, number[]>;
  record: (result: ScenarioResult) => void;
  /** A scenario recorded earlier in this run (the IDLE path's figures beside the ingress'). */
  recorded?: (id: ScenarioId) => ScenarioResult | undefined;
}

/** Scenarios a `--quick` run leaves out (and its report does not list): too long for CI's bench step. */
export const FULL_ONLY: readonly ScenarioId[] = ['notify-ingress', 'footprint', 'pop3', 'folders', 'ten-k'];

/**
 * When a scenario joined the bench (ISO time; scenarios older than this table are not in it). A
 * report of a run started before then does not list it and is still well formed: the committed
 * report stays valid until the next full run.
 */
export const SCENARIO_ADDED: Partial<Record<ScenarioId, string>> = { 'ten-k': '2026-12-06T09:10:00Z' };

export function emptyResult(id: ScenarioId, status: Status, reason?: string): ScenarioResult {
  return { id, title: SCENARIOS[id], status, reason, durationS: 0, params: {}, figures: {}, targets: [], tables: [], notes: [] };
}
