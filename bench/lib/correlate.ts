import { bareMessageId } from './corpus';

export interface Delivery {
  user: string;
  key: string;
  messageId: string;
  sentAt: number;
  ackAt: number;
  error?: string;
}

/** Acked deliveries per user, in ack order (LMTP deliveries to one user are sequential here, so ack order is UID order). */
function byUser(deliveries: Delivery[]): Map<string, Delivery[]> {
  const map = new Map<string, Delivery[]>();
  for (const d of deliveries) {
    if (d.error) continue;
    let list = map.get(d.user);
    if (!list) map.set(d.user, (list = []));
    list.push(d);
  }
  for (const list of map.values()) list.sort((a, b) => a.ackAt - b.ackAt);
  return map;
}

/**
 * Latency of counter-style observations (EXISTS counts, STATUS UIDNEXT): the k-th delivery to a
 * user is seen by the first observation whose counter reached `baseline + k + 1`.
 */
export function counterLatencies(
  deliveries: Delivery[],
  observations: Array<{ user: string; value: number; at: number }>,
  baseline: (user: string) => number,
): { latencies: number[]; missed: number } {
  const obsByUser = new Map<string, Array<{ value: number; at: number }>>();
  for (const o of observations) {
    let list = obsByUser.get(o.user);
    if (!list) obsByUser.set(o.user, (list = []));
    list.push(o);
  }
  const latencies: number[] = [];
  let missed = 0;
  for (const [user, list] of byUser(deliveries)) {
    const obs = (obsByUser.get(user) ?? []).sort((a, b) => a.at - b.at);
    list.forEach((d, k) => {
      const hit = obs.find((o) => o.value >= baseline(user) + k + 1);
      if (hit) latencies.push(hit.at - d.ackAt);
      else missed++;
    });
  }
  return { latencies, missed };
}

/** Latency of events that carry the delivery's Message-ID (socket `message.new`). */
export function messageIdLatencies(deliveries: Delivery[], events: Array<{ messageId: string | null; at: number }>): { latencies: number[]; missed: number; duplicates: number } {
  const byId = new Map(deliveries.filter((d) => !d.error).map((d) => [bareMessageId(d.messageId), d]));
  const seen = new Set<string>();
  const latencies: number[] = [];
  let duplicates = 0;
  for (const e of events) {
    const id = bareMessageId(e.messageId);
    const d = byId.get(id);
    if (!d) continue;
    if (seen.has(id)) {
      duplicates++;
      continue;
    }
    seen.add(id);
    latencies.push(e.at - d.ackAt);
  }
  return { latencies, missed: byId.size - seen.size, duplicates };
}
