import { z } from 'zod';

/** What a session needs to know about timing; per host, because providers differ. */
export interface SessionTimings {
  POLL_INTERVAL_MS: number;
  IDLE_RESTART_MS: number;
  HALF_OPEN_TIMEOUT_MS: number;
  NOOP_TIMEOUT_MS: number;
  BACKOFF_MIN_MS: number;
  BACKOFF_MAX_MS: number;
  AUTH_FAILURE_BACKOFF_MS: number;
  /** Poll even if the server offers IDLE (providers whose IDLE is broken). */
  DISABLE_IDLE: boolean;
  /** Without NOTIFY: how often the folders other than the selected one are checked with STATUS. */
  FOLDER_SWEEP_INTERVAL_MS: number;
  /** With NOTIFY: how often the folder list is read anyway (see {@link folderCheckInterval}). */
  FOLDER_LIST_INTERVAL_MS: number;
  /** Sweep even if the server offers NOTIFY (providers whose NOTIFY is broken). */
  DISABLE_NOTIFY: boolean;
  /** After new mail's jobs were enqueued from EXISTS or a NOTIFY STATUS, how long the resync waits (0: at once). */
  RESYNC_SETTLE_MS: number;
}

const ms = z.number().int().min(100);
const HostOverrideSchema = z
  .object({
    IDLE_RESTART_MS: z.number().int().min(1000).optional(),
    POLL_INTERVAL_MS: ms.optional(),
    HALF_OPEN_TIMEOUT_MS: ms.optional(),
    DISABLE_IDLE: z.boolean().optional(),
    FOLDER_SWEEP_INTERVAL_MS: ms.optional(),
    FOLDER_LIST_INTERVAL_MS: ms.optional(),
    DISABLE_NOTIFY: z.boolean().optional(),
    RESYNC_SETTLE_MS: z.number().int().min(0).max(1000).optional(),
  })
  .strict();
export type HostOverride = z.infer<typeof HostOverrideSchema>;

/**
 * `IMAP_HOST_OVERRIDES`: provider quirks as data, not code paths, e.g.
 * `{"imap.mail.yahoo.com":{"IDLE_RESTART_MS":180000},"imap.163.com":{"DISABLE_IDLE":true,"POLL_INTERVAL_MS":55000}}`.
 */
export const hostOverridesSchema = z
  .string()
  .default('{}')
  .transform((raw, ctx) => {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be a JSON object of host → settings' });
      return z.NEVER;
    }
  })
  .pipe(z.record(z.string().min(1), HostOverrideSchema));

/** Per-host timings, one shared object per host (sessions keep a reference, not a copy). */
export function timingsByHost(base: SessionTimings, overrides: Record<string, HostOverride>): (host: string) => SessionTimings {
  const byHost = new Map<string, SessionTimings>();
  for (const [host, override] of Object.entries(overrides)) byHost.set(host.toLowerCase(), { ...base, ...override });
  return (host) => byHost.get(host.toLowerCase()) ?? base;
}

/**
 * How often a connected session checks an account's folders on its own. Without NOTIFY that is
 * the sweep (a STATUS of every folder), which finds their new mail. With NOTIFY it is only a LIST,
 * a safety net for servers that report a rename or delete late or not at all (Dovecot 2.3 at
 * times): new mail and flag changes, and the folder changes NOTIFY reports, arrive at once
 * anyway. Every 30 s it took about 30 % of the watcher's CPU at rest (1,000 accounts: 33 LISTs a
 * second) and most of its young-generation collections, and as many LISTs on the mail server.
 */
export function folderCheckInterval(timings: Pick<SessionTimings, 'FOLDER_SWEEP_INTERVAL_MS' | 'FOLDER_LIST_INTERVAL_MS'>, notifying: boolean): number {
  return notifying ? timings.FOLDER_LIST_INTERVAL_MS : timings.FOLDER_SWEEP_INTERVAL_MS;
}

/**
 * When a session that just connected counts its last folder check: a random point of the last
 * interval, so the sessions of a watcher that connected them all within seconds (a start, a
 * failover) do not check their folders in the same seconds ever after.
 */
export function firstFolderCheckBase(now: number, interval: number, random: () => number = Math.random): number {
  return now - Math.floor(random() * interval);
}
