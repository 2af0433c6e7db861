import { Injectable } from '@nestjs/common';
import { LoggedEvent, LoggedEventName, LoggedEventPayloads, ParsedMessage, ServerEvent, redisChannels, redisKeys } from '@pushmail/contracts';
import { RedisService, isCluster, luaScript, runLua } from '@pushmail/redis';

/** Payload of a logged event before the log assigns its id (a new message is appended whole). */
export type UnloggedPayload<N extends LoggedEventName> = N extends ServerEvent.MessageNew ? ParsedMessage : Omit<LoggedEventPayloads[N], 'eventId'>;

export interface AppendOptions {
  /** Same key → same event: a retried job returns the first append's id instead of appending again. */
  dedupeKey: string;
  /**
   * Store the full payload (with its eventId) once, under this key, for `storeTtlSeconds`: the log
   * entry then holds `summary` and this key as its reference, and a replay joins the two while the
   * stored copy lasts. The events channel still carries the full payload.
   */
  storeKey?: string;
  storeTtlSeconds?: number;
  /** What the log entry holds instead of the payload when it is stored under `storeKey`. */
  summary?: SerializedPayload;
  /** How long the dedupe marker lasts. */
  ttlSeconds: number;
  maxLen: number;
  /**
   * Entries older than this are trimmed (XTRIM MINID, by Redis' clock) at each append to the
   * account's log; an account that gets no events keeps its last ones. Omitted: no age limit.
   */
  maxAgeSeconds?: number;
  /** Epoch ms when the watcher saw the change; travels to the gateways for push-latency metrics. */
  seenAt?: number;
  /**
   * Another event's dedupe key whose presence cancels this append (a message deleted while it was
   * being fetched is not announced after its deletion). Checked in the same atomic step.
   */
  unlessLogged?: string;
  /**
   * A key of the account's slot that must exist for the append to happen (the account's settings
   * hash): a late job of a deleted account must not recreate its log. Checked in the same atomic
   * step, so a deletion cannot slip between a check and the append, and the appender makes no
   * round trip of its own to ask.
   */
  whileExists?: string;
}

/**
 * A payload already serialized elsewhere (the fetcher's parser thread): appended as is. The JSON
 * must be a non-empty object of the event's payload type, as the producer's types guarantee.
 */
export class SerializedPayload {
  constructor(readonly json: string) {}
}

/** Cancelled: `logged` when the `unlessLogged` event was in the log, `gone` when the `whileExists` key was not. */
export type AppendResult = { eventId: string; duplicate: boolean; cancelled?: undefined } | { cancelled: 'logged' | 'gone' };

/**
 * Appends atomically: dedupe check, XADD (capped by count, then by age) of the payload or, when it
 * is stored, of its summary and the store key, the store of the payload, and PUBLISH to
 * the gateways, in one round trip. The eventId is spliced into the payload JSON here because the
 * stream id exists only once XADD has run. KEYS[3] (the store), KEYS[4] (the cancelling dedupe
 * marker) and KEYS[5] (the key that must exist) are optional: ARGV[11], ARGV[12] and ARGV[14] say
 * whether they are given, and an absent one is passed as KEYS[1], because every key of a script
 * must be in one slot on a Redis Cluster (an empty key name is in slot 0). ARGV[13] = '1'
 * publishes with SPUBLISH on the account's own shard channel (a Redis Cluster), else with PUBLISH
 * on the one events channel.
 */
const APPEND_SCRIPT = luaScript(`
if ARGV[14] == '1' and redis.call('EXISTS', KEYS[5]) == 0 then return {'', 3} end
if ARGV[12] == '1' and redis.call('EXISTS', KEYS[4]) == 1 then return {'', 2} end
local existing = redis.call('GET', KEYS[2])
if existing then return {existing, 1} end
local id
if ARGV[11] == '1' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'n', ARGV[2], 'p', ARGV[10], 'b', KEYS[3])
else
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'n', ARGV[2], 'p', ARGV[3])
end
if ARGV[8] ~= '' then
  local t = redis.call('TIME')
  local minid = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[8]) * 1000
  if minid > 0 then redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d', minid)) end
end
redis.call('SET', KEYS[2], id, 'EX', ARGV[4])
local full = '{"eventId":"' .. id .. '",' .. string.sub(ARGV[3], 2)
if ARGV[11] == '1' then redis.call('SET', KEYS[3], full, 'EX', ARGV[9]) end
redis.call(ARGV[13] == '1' and 'SPUBLISH' or 'PUBLISH', ARGV[5], ARGV[6] .. '\\n' .. ARGV[2] .. '\\n' .. ARGV[7] .. '\\n' .. full)
return {id, 0}
`);

export interface PublishedEvent {
  accountId: string;
  event: LoggedEvent;
  /** Epoch ms when the watcher saw the change, when known. */
  seenAt?: number;
}

/**
 * The account a notice of the events channel is for, read without parsing its payload: a gateway
 * hears every account's events but holds sockets for few of them.
 */
export function publishedEventAccount(message: string): string | undefined {
  const end = message.indexOf('\n');
  return end > 0 ? message.slice(0, end) : undefined;
}

/** Splits the `<accountId>\n<name>\n<seenAt>\n<json>` wire format of the events channel. */
export function parsePublishedEvent(message: string): PublishedEvent {
  const first = message.indexOf('\n');
  const second = message.indexOf('\n', first + 1);
  const third = message.indexOf('\n', second + 1);
  if (first < 0 || second < 0 || third < 0) throw new Error('malformed event notice');
  const accountId = message.slice(0, first);
  const name = message.slice(first + 1, second) as LoggedEventName;
  const seenAt = Number(message.slice(second + 1, third)) || undefined;
  const payload = JSON.parse(message.slice(third + 1)) as LoggedEventPayloads[typeof name];
  return { accountId, event: { name, payload } as LoggedEvent, seenAt };
}

/**
 * The account's own events channel on a Redis Cluster, published with SPUBLISH (sharded pub/sub):
 * in the slot of the account's keys, as the append script requires, and heard only by the
 * gateways that SSUBSCRIBE to it, those with sockets for the account. On one Redis every event
 * goes to the one {@link redisChannels.events} channel instead.
 */
export const accountEventsChannel = (accountId: string) => `${redisChannels.events}:{${accountId}}`;

/** The account's event log: a capped Redis Stream whose entry ids are the contract's eventIds. */
@Injectable()
export class EventLogService {
  /** Events go to each account's own sharded channel (a Redis Cluster). */
  readonly sharded: boolean;

  constructor(private readonly redis: RedisService) {
    this.sharded = isCluster(redis.client);
  }

  async append<N extends LoggedEventName>(
    accountId: string,
    name: N,
    payload: UnloggedPayload<N>,
    options: AppendOptions & { unlessLogged?: undefined; whileExists?: undefined },
  ): Promise<{ eventId: string; duplicate: boolean }> {
    return (await this.appendGuarded(accountId, name, payload, options)) as { eventId: string; duplicate: boolean };
  }

  /**
   * {@link append}, cancelled when the event named by `options.unlessLogged` is already in the log
   * or the key `options.whileExists` is not there.
   */
  async appendGuarded<N extends LoggedEventName>(accountId: string, name: N, payload: UnloggedPayload<N> | SerializedPayload, options: AppendOptions): Promise<AppendResult> {
    const json = payload instanceof SerializedPayload ? payload.json : JSON.stringify(payload);
    if (!json.startsWith('{') || json === '{}') throw new Error('event payload must be a non-empty object');
    const summary = options.summary?.json ?? '';
    // A stored payload without a summary would leave the log entry empty; one the log holds whole needs no summary.
    if (!!options.storeKey !== !!options.summary || (options.storeKey && !options.storeTtlSeconds)) throw new Error('storeKey, storeTtlSeconds and summary go together');
    if (options.summary && (!summary.startsWith('{') || summary === '{}')) throw new Error('event summary must be a non-empty object');
    // EVALSHA: the script travels (and is hashed by Redis) once, not with every message.
    const [eventId, outcome] = await runLua<[string, number]>(
      this.redis.client,
      APPEND_SCRIPT,
      [
        redisKeys.eventLog(accountId),
        redisKeys.eventDedupe(accountId, options.dedupeKey),
        options.storeKey ?? redisKeys.eventLog(accountId),
        options.unlessLogged ? redisKeys.eventDedupe(accountId, options.unlessLogged) : redisKeys.eventLog(accountId),
        options.whileExists ?? redisKeys.eventLog(accountId),
      ],
      [
        options.maxLen,
        name,
        json,
        options.ttlSeconds,
        this.sharded ? accountEventsChannel(accountId) : redisChannels.events,
        accountId,
        options.seenAt ?? '',
        options.maxAgeSeconds ?? '',
        options.storeTtlSeconds ?? '',
        summary,
        options.storeKey ? '1' : '',
        options.unlessLogged ? '1' : '',
        this.sharded ? '1' : '',
        options.whileExists ? '1' : '',
      ],
    );
    if (outcome === 3) return { cancelled: 'gone' };
    return outcome === 2 ? { cancelled: 'logged' } : { eventId, duplicate: outcome === 1 };
  }

  /**
   * Events strictly after `sinceId`, oldest first. An entry that holds a summary and a reference is
   * joined with its stored payload (one MGET per page: an account's keys share a hash tag); when
   * the stored copy has expired, the event is the summary with `bodyExpired: true`.
   */
  async readAfter(accountId: string, sinceId: string, count = 500): Promise<LoggedEvent[]> {
    const entries = await this.redis.client.xrange(redisKeys.eventLog(accountId), `(${sinceId}`, '+', 'COUNT', count);
    const parsed = entries.map(([id, fields]) => readEntry(id, fields));
    const refs = parsed.filter((e) => e.ref !== undefined);
    const bodies = refs.length ? await this.redis.client.mget(...refs.map((e) => e.ref as string)) : [];
    refs.forEach((e, i) => (e.body = bodies[i]));
    return parsed.map(toEvent);
  }

  /**
   * True when events after `sinceId` may have been trimmed away by the cap, so a replay from it
   * would have a gap and the client must reload instead.
   */
  async isTrimmedPast(accountId: string, sinceId: string): Promise<boolean> {
    let info: unknown[];
    try {
      info = (await this.redis.client.xinfo('STREAM', redisKeys.eventLog(accountId))) as unknown[];
    } catch {
      return false; // no stream yet: nothing was ever trimmed
    }
    const field = (name: string) => (info.indexOf(name) >= 0 ? info[info.indexOf(name) + 1] : undefined);
    // Trimming (by count or by age) drops the oldest entries: anything after `since` is lost only
    // when something was trimmed and `since` is older than the oldest entry still held.
    const trimmed = Number(field('entries-added') ?? 0) > Number(field('length') ?? 0);
    const first = field('first-entry') as [string, string[]] | null | undefined;
    return trimmed && !!first && compareEventIds(sinceId, first[0]) < 0;
  }

  async lastEventId(accountId: string): Promise<string | null> {
    const [entry] = await this.redis.client.xrevrange(redisKeys.eventLog(accountId), '+', '-', 'COUNT', 1);
    return entry ? entry[0] : null;
  }
}

interface LogEntry {
  id: string;
  name: string;
  json: string;
  /** The key of the stored payload, when the entry holds only a summary. */
  ref?: string;
  body?: string | null;
}

function readEntry(id: string, fields: string[]): LogEntry {
  const entry: LogEntry = { id, name: '', json: '{}' };
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 'n') entry.name = fields[i + 1];
    else if (fields[i] === 'p') entry.json = fields[i + 1];
    else if (fields[i] === 'b') entry.ref = fields[i + 1];
  }
  return entry;
}

function toEvent({ id, name, json, ref, body }: LogEntry): LoggedEvent {
  // The stored copy may be one `message.get` stored without an event (after the first expired): the eventId is the entry's.
  if (ref !== undefined && body) return { name, payload: { ...JSON.parse(body), eventId: id } } as LoggedEvent;
  const payload = { eventId: id, ...JSON.parse(json) };
  if (ref !== undefined) payload.bodyExpired = true;
  return { name, payload } as LoggedEvent;
}

/** Orders Redis Stream ids `<ms>-<seq>` numerically. */
export function compareEventIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  if (am !== bm) return am < bm ? -1 : 1;
  if ((as ?? 0n) !== (bs ?? 0n)) return (as ?? 0n) < (bs ?? 0n) ? -1 : 1;
  return 0;
}
