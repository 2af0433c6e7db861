import { Injectable } from '@nestjs/common';
import { FastCommandPageTicket, MessagePage, redisKeys } from '@pushmail/contracts';
import { RedisService, luaScript, runLua } from '@pushmail/redis';

/**
 * The mailbox the cache serves. Only INBOX: it is the folder every web client opens first, and the
 * one whose every change reaches the event log on every server (IDLE on INBOX; other folders are
 * only swept on servers without NOTIFY, so their log can lag by FOLDER_SWEEP_INTERVAL_MS).
 */
export const CACHED_MAILBOX = 'INBOX';

/** Pages kept per account (one per page size a client asks for); a new size beyond it empties the hash. */
export const PAGES_PER_ACCOUNT = 4;

export type PageLookup =
  /** Not the user's account, or no such account. */
  | { kind: 'forbidden' }
  | { kind: 'pop3' }
  | { kind: 'hit'; page: MessagePage }
  /**
   * Ask the server; `ticket` when the answer may be stored: its `field` names the mailbox and page
   * size, its `token` the account's newest event id when the gateway asked ('0' for an empty log).
   */
  | { kind: 'miss'; ticket?: FastCommandPageTicket };

/**
 * The ownership check of a read-only command and, for the first page of INBOX, the cached answer,
 * in one round trip. KEYS: account hash, account state, event log, page hash (one slot: `{id}`).
 * ARGV[1] user id, ARGV[2] the page's field ('' when the request cannot be cached). Returns {0}
 * not the user's, {2} POP3, {1} ask the server (with the token when the answer may be stored),
 * {3, token, page JSON} a hit.
 *
 * A page may be cached while the account's watcher is connected and watching INBOX without
 * polling, i.e. while every change of INBOX on the server becomes an event in the log: a page is
 * valid only under the log's newest event id it was read under, so a new message, an expunge, a
 * flag change or a reset makes it stale the moment its event is appended.
 */
const LOOKUP = luaScript(`
local account = redis.call('HMGET', KEYS[1], 'userId', 'protocol', 'mailboxes')
if account[1] ~= ARGV[1] then return {0} end
if account[2] == 'pop3' then return {2} end
if ARGV[2] == '' then return {1} end
local state = redis.call('HMGET', KEYS[2], 'state', 'delivery')
if state[1] ~= 'connected' or state[2] == 'poll' then return {1} end
local ok, spec = pcall(cjson.decode, account[3] or '[]')
local watched = false
if ok and type(spec) == 'table' then
  for _, m in ipairs(spec) do if m == 'INBOX' or m == '*' then watched = true end end
end
if not watched then return {1} end
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local token = '0'
if last[1] then token = last[1][1] end
local cached = redis.call('HGET', KEYS[4], ARGV[2])
if cached and string.sub(cached, 1, #token + 1) == token .. '\\n' then return {3, token, string.sub(cached, #token + 2)} end
return {1, token}
`);

/**
 * Stores a page only if no event was appended since the gateway read `token` (ARGV[1]): the page
 * then reflects the server as of a moment after every logged event. KEYS: event log, page hash.
 * ARGV: token, field, page JSON, TTL seconds, pages per account.
 */
const FILL = luaScript(`
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local token = '0'
if last[1] then token = last[1][1] end
if token ~= ARGV[1] then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 and redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[5]) then redis.call('DEL', KEYS[2]) end
redis.call('HSET', KEYS[2], ARGV[2], token .. '\\n' .. ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
`);

/**
 * The first page of `message.list` on INBOX, cached per account in Redis for `LIST_CACHE_SECONDS`
 * and dropped by the next event of the account (see LOOKUP). The IMAP server stays the store: a
 * page is only a copy of its last answer, bounded to PAGES_PER_ACCOUNT pages of at most 200
 * summaries per account, and only for accounts whose lists were asked for within the TTL.
 *
 * What it can miss: a change on the server that never becomes an event. While the watcher is
 * connected every INBOX change does (within Dovecot's ~0.5 s IDLE delay, as push does); the TTL
 * bounds what a change made while no watcher held the account could leave behind.
 */
@Injectable()
export class FirstPageCache {
  constructor(private readonly redis: RedisService) {}

  /** The field of a cacheable request, or undefined when this request is never cached. */
  static fieldOf(mailbox: string, limit: number, before: number | undefined): string | undefined {
    return mailbox === CACHED_MAILBOX && before === undefined ? `${mailbox}\n${limit}` : undefined;
  }

  /** Ownership, protocol and (when `field` is given and `ttlSeconds` > 0) the cached page. */
  async lookup(accountId: string, userId: string, field: string | undefined, ttlSeconds: number): Promise<PageLookup> {
    const want = field !== undefined && ttlSeconds > 0 ? field : '';
    const keys = [redisKeys.account(accountId), redisKeys.accountState(accountId), redisKeys.eventLog(accountId), redisKeys.firstPages(accountId)];
    const [code, token, page] = await runLua<[number, string?, string?]>(this.redis.client, LOOKUP, keys, [userId, want]);
    if (code === 0) return { kind: 'forbidden' };
    if (code === 2) return { kind: 'pop3' };
    if (code === 3) return { kind: 'hit', page: JSON.parse(page!) as MessagePage };
    return token === undefined ? { kind: 'miss' } : { kind: 'miss', ticket: { field: want, token, ttlSeconds } };
  }

  /** Stores `pageJson` unless the account logged an event since the ticket's token; true when stored. */
  async fill(accountId: string, ticket: FastCommandPageTicket, pageJson: string): Promise<boolean> {
    const keys = [redisKeys.eventLog(accountId), redisKeys.firstPages(accountId)];
    return (await runLua<number>(this.redis.client, FILL, keys, [ticket.token, ticket.field, pageJson, ticket.ttlSeconds, PAGES_PER_ACCOUNT])) === 1;
  }

  /**
   * Drops the account's pages: called by a command that changed mail (flag, move, delete) before
   * it answers, so a list right after the answer never shows the mail as it was. A page filled
   * from a read that raced the command is dropped by the command's event when it is logged.
   */
  async invalidate(accountId: string): Promise<void> {
    await this.redis.client.del(redisKeys.firstPages(accountId));
  }
}
