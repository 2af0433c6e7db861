/**
 * Event ids are Redis Stream ids (`<ms>-<seq>`). They compare as number pairs, not as strings:
 * "10-0" comes after "9-5".
 */
export function compareEventIds(a: string, b: string): number {
  const [aMs, aSeq] = split(a);
  const [bMs, bSeq] = split(b);
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  if (aSeq !== bSeq) return aSeq < bSeq ? -1 : 1;
  return 0;
}

/** The id before every real event: subscribing with it replays all the log still holds. */
export const START_OF_LOG = '0-0';

function split(id: string): [bigint, bigint] {
  const dash = id.indexOf('-');
  if (dash < 1) throw new Error(`not an event id: ${id}`);
  return [BigInt(id.slice(0, dash)), BigInt(id.slice(dash + 1))];
}
