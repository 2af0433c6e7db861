import { atMost, judged } from './scenario';
import { Summary, summarize } from './stats';
import { BenchContext, ScenarioResult, Table, TargetCheck } from './types';

/** A figure divided by its floor (or reference), to two decimals; null when either is missing or the floor is not positive. */
export function overFloor(value: number | null | undefined, floor: number | null | undefined): number | null {
  if (value === null || value === undefined || floor === null || floor === undefined || !(floor > 0)) return null;
  return Math.round((value / floor) * 100) / 100;
}

/** EmailEngine 2.79.2 on this machine's Dovecot: LMTP ack → its webhook, one lone message (issue 20). */
export const EMAILENGINE_LONE_MESSAGE_MS = 1573;

export interface NotifyJudgementInput {
  /** LMTP ack → notification at a bare HTTP server (ms; negative: before the ack). */
  floor: number[];
  /** LMTP ack → message.new at a Socket.IO client through the ingress (ms). */
  ingress: number[];
  sent: number;
  /** The IDLE path's push latency from the same run (push-latency scenario), when it ran. */
  idle: { p50: number | null; p99: number | null } | null;
  /**
   * LMTP ack → EXISTS at a bare IMAP client IDLE-ing on the same Dovecot during the floor phase
   * (ms): what any IMAP client, pushmail's IDLE path included, cannot beat.
   */
  idleFloor?: number[];
}

/**
 * Figures, targets and the comparison table of the notify-ingress scenario (issue 20): ingress
 * p50 ≤ 25 ms and p99 ≤ 75 ms, beside its floor and, as ratios, the IDLE path and EmailEngine's
 * lone-message figure. Every message sent must have arrived: a missing one is a failed target.
 */
export function notifyJudgement(ctx: Pick<BenchContext, 'quick'>, input: NotifyJudgementInput): Pick<ScenarioResult, 'figures' | 'targets' | 'tables'> {
  const ing: Summary | null = summarize(input.ingress);
  const fl: Summary | null = summarize(input.floor);
  const idleFloor: Summary | null = summarize(input.idleFloor ?? []);
  const missing = input.sent - input.ingress.length;
  const idleP50 = input.idle?.p50 ?? null;
  const idleP99 = input.idle?.p99 ?? null;
  const figures: Record<string, number | null> = {
    p50: ing?.p50 ?? null,
    p95: ing?.p95 ?? null,
    p99: ing?.p99 ?? null,
    floorP50: fl?.p50 ?? null,
    floorP99: fl?.p99 ?? null,
    missing,
    idleFloorP50: idleFloor?.p50 ?? null,
    idleFloorP99: idleFloor?.p99 ?? null,
    idleFloorP50OverIngressP50: overFloor(idleFloor?.p50, ing?.p50),
    idleP50OverIngressP50: overFloor(idleP50, ing?.p50),
    emailEngineOverIngressP50: overFloor(EMAILENGINE_LONE_MESSAGE_MS, ing?.p50),
  };
  const targets: TargetCheck[] = [
    judged(ctx as BenchContext, atMost('LMTP ack → message.new via the ingress, p50', ing?.p50, 25, 'ms')),
    judged(ctx as BenchContext, atMost('LMTP ack → message.new via the ingress, p99', ing?.p99, 75, 'ms')),
    { ...atMost('messages sent but never received', missing, 0, 'messages', '0'), met: missing === 0 },
  ];
  // The floor is negative (the script's request arrives before the LMTP 250): no ratio for it.
  const row = (name: string, p50: number | null, p99: number | null): Array<string | number | null> => [name, p50, p99, p50 !== null && p50 > 0 ? overFloor(p50, ing?.p50) : null];
  const table: Table = {
    title: 'LMTP ack → the client knows (ms), same run; ratio = that path p50 ÷ ingress p50',
    columns: ['path', 'p50', 'p99', '÷ ingress p50'],
    rows: [
      row('floor: the notification at a bare HTTP server', fl?.p50 ?? null, fl?.p99 ?? null),
      row('ingress → fetcher → gateway → Socket.IO', ing?.p50 ?? null, ing?.p99 ?? null),
      row('IDLE floor: EXISTS at a bare IMAP client on the same Dovecot (this scenario)', idleFloor?.p50 ?? null, idleFloor?.p99 ?? null),
      row('IDLE path (push-latency scenario, same run)', idleP50, idleP99),
      row('EmailEngine 2.79.2, lone message (measured earlier on this Dovecot)', EMAILENGINE_LONE_MESSAGE_MS, null),
    ],
  };
  return { figures, targets, tables: [table] };
}
