import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import {
  AccountChangeNotice,
  AccountChangeNoticeSchema,
  AccountState,
  AccountStateEvent,
  AccountView,
  CreateAccountBody,
  PatchAccountBody,
  DEFAULT_POLL_INTERVAL_SECONDS,
  Pop3Settings,
  ServerSettings,
  redisChannels,
  redisKeys,
} from '@pushmail/contracts';
import { CredentialCipher } from '@pushmail/crypto';
import { RedisClient, RedisService, isCluster, luaScript, runLua } from '@pushmail/redis';
import { randomBytes } from 'node:crypto';
import { mailboxIndexDigest } from './mailbox-index';

/**
 * The accounts in the mailbox index sets KEYS (one per host of a notification's source) with
 * their watched mailboxes, as a flat [id, mailboxesJson, …]. ARGV[1] and ARGV[2] are what comes
 * before and after an id in its account key (redisKeys.account). Ids whose account is gone are
 * left out. Reads keys it is not given in KEYS, so only on a single Redis (or Sentinel set); on
 * a Redis Cluster accountsForLogin reads in steps instead.
 */
const ACCOUNTS_FOR_LOGIN = luaScript(`
local out, seen = {}, {}
for i = 1, #KEYS do
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    if not seen[id] then
      seen[id] = true
      local mailboxes = redis.call('HGET', ARGV[1] .. id .. ARGV[2], 'mailboxes')
      if mailboxes then
        out[#out + 1] = id
        out[#out + 1] = mailboxes
      end
    end
  end
end
return out
`);
const ID_MARK = '\u0000';
const ACCOUNT_KEY_AROUND_ID = redisKeys.account(ID_MARK).split(ID_MARK);

// ARGV[5] names the incoming server's field: 'imap', or 'pop3' for POP3 accounts.
const REPLACE_IF_UNCHANGED = `
if redis.call('HGET', KEYS[1], ARGV[5]) ~= ARGV[1] or redis.call('HGET', KEYS[1], 'smtp') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[5], ARGV[3], 'smtp', ARGV[4])
return 1
`;

interface StoredAccountBase {
  id: string;
  userId: string;
  email: string;
  mailboxes: string[];
  smtp: ServerSettings;
  /** Bumped on every change, so a watcher can tell that it must reconnect. */
  version: number;
  createdAt: string;
}

export interface StoredImapAccount extends StoredAccountBase {
  protocol: 'imap';
  imap: ServerSettings;
}

/** A POP3 account: polled every `pollIntervalSeconds`, mail only in INBOX. */
export interface StoredPop3Account extends StoredAccountBase {
  protocol: 'pop3';
  pop3: Pop3Settings;
  pollIntervalSeconds: number;
}

/** An account with its decrypted settings; only ever held in memory. Hash field `protocol` is absent on IMAP accounts stored before POP3. */
export type StoredAccount = StoredImapAccount | StoredPop3Account;

/**
 * What a consumer that only reads accounts and follows their changes needs of
 * {@link AccountRepository}: its constructor can take this, so a unit test passes a typed fake
 * (`FakeAccountSource` in libs/testing) instead of a repository on Redis. Nest still injects the
 * repository by its class token (`@Inject(AccountRepository)`).
 */
export type AccountSource = Pick<AccountRepository, 'get' | 'onChange'>;

/**
 * Accounts in Redis. IMAP and SMTP settings are stored as AES-256-GCM ciphertext (user names are
 * personal data too), never in the clear.
 */
@Injectable()
export class AccountRepository implements OnModuleDestroy {
  private readonly logger = new Logger(AccountRepository.name);
  private subscriber?: RedisClient;
  private readonly changeHandlers: Array<(notice: AccountChangeNotice) => void> = [];
  private readonly stateHandlers: Array<(event: AccountStateEvent) => void> = [];

  constructor(
    private readonly redis: RedisService,
    private readonly cipher: CredentialCipher,
  ) {}

  static newId(): string {
    return 'acc_' + randomBytes(12).toString('base64url');
  }

  async create(body: CreateAccountBody, id = AccountRepository.newId()): Promise<AccountView> {
    const r = this.redis.client;
    const pollIntervalSeconds = body.pop3 ? (body.pollIntervalSeconds ?? DEFAULT_POLL_INTERVAL_SECONDS) : undefined;
    // The account's own keys in one MULTI (one hash tag, one slot); then the sets that list it,
    // which live on other slots of a Redis Cluster. A crash between the two leaves an account that
    // nothing lists: not shown, not watched, not counted against the user's cap (the caller saw
    // the create fail and makes another).
    await r
      .multi()
      .hset(redisKeys.account(id), {
        id,
        userId: body.userId,
        email: body.email,
        mailboxes: JSON.stringify(body.mailboxes),
        ...(body.imap ? { imap: this.cipher.encrypt(JSON.stringify(body.imap), { accountId: id, field: 'imap' }) } : {}),
        ...(body.pop3 ? { pop3: this.cipher.encrypt(JSON.stringify(body.pop3), { accountId: id, field: 'pop3' }), protocol: 'pop3', pollIntervalSeconds } : {}),
        smtp: this.cipher.encrypt(JSON.stringify(body.smtp), { accountId: id, field: 'smtp' }),
        version: 1,
        createdAt: new Date().toISOString(),
      })
      .hset(redisKeys.accountState(id), { state: 'connecting', updatedAt: Date.now(), version: 1 })
      .exec();
    // The mailbox index before the 'created' notice, so a push notification finds the account as
    // soon as a watcher watches it.
    await Promise.all([
      r.sadd(redisKeys.accountIds(), id),
      r.sadd(redisKeys.userAccounts(body.userId), id),
      ...(body.imap ? [r.sadd(mailboxIndexKey(body.imap), id)] : []),
    ]);
    await this.publishChange({ accountId: id, change: 'created', userId: body.userId });
    const delivery = body.pop3 ? { protocol: 'pop3' as const, delivery: 'poll' as const, pollIntervalSeconds } : { protocol: 'imap' as const, delivery: 'push' as const };
    return { id, userId: body.userId, email: body.email, mailboxes: body.mailboxes, state: 'connecting', stateVersion: 1, ...delivery };
  }

  async get(id: string): Promise<StoredAccount | null> {
    const h = await this.redis.client.hgetall(redisKeys.account(id));
    if (!h.id) return null;
    const base = {
      id: h.id,
      userId: h.userId,
      email: h.email,
      mailboxes: JSON.parse(h.mailboxes) as string[],
      smtp: JSON.parse(this.cipher.decrypt(h.smtp, { accountId: id, field: 'smtp' })) as ServerSettings,
      version: Number(h.version),
      createdAt: h.createdAt,
    };
    if (h.protocol === 'pop3') {
      const pop3 = JSON.parse(this.cipher.decrypt(h.pop3, { accountId: id, field: 'pop3' })) as Pop3Settings;
      return { ...base, protocol: 'pop3', pop3, pollIntervalSeconds: Number(h.pollIntervalSeconds) || DEFAULT_POLL_INTERVAL_SECONDS };
    }
    return { ...base, protocol: 'imap', imap: JSON.parse(this.cipher.decrypt(h.imap, { accountId: id, field: 'imap' })) as ServerSettings };
  }

  /** The account as the API shows it: no settings, no secrets. */
  async view(id: string): Promise<AccountView | null> {
    const [[, h], [, s]] = (await this.redis.client
      .multi()
      .hmget(redisKeys.account(id), 'id', 'userId', 'email', 'mailboxes', 'protocol', 'pollIntervalSeconds')
      .hgetall(redisKeys.accountState(id))
      .exec()) as [[null, (string | null)[]], [null, Record<string, string>]];
    const [accountId, userId, email, mailboxes, protocol, pollIntervalSeconds] = h;
    if (!accountId) return null;
    const view: AccountView = {
      id: accountId,
      userId: userId!,
      email: email!,
      mailboxes: JSON.parse(mailboxes!) as string[],
      state: (s.state as AccountState) ?? 'connecting',
      stateVersion: Number(s.version ?? 0),
      ...(protocol === 'pop3'
        ? { protocol: 'pop3' as const, delivery: 'poll' as const, pollIntervalSeconds: Number(pollIntervalSeconds) || DEFAULT_POLL_INTERVAL_SECONDS }
        : // The watcher records `delivery: poll` in the state hash for an IMAP server without IDLE.
          { protocol: 'imap' as const, delivery: s.delivery === 'poll' ? ('poll' as const) : ('push' as const) }),
    };
    if (s.error) view.error = s.error;
    return view;
  }

  async listForUser(userId: string): Promise<AccountView[]> {
    const ids = await this.redis.client.smembers(redisKeys.userAccounts(userId));
    const views = await Promise.all(ids.sort().map((id) => this.view(id)));
    return views.filter((v): v is AccountView => v !== null);
  }

  listIds(): Promise<string[]> {
    return this.redis.client.smembers(redisKeys.accountIds());
  }

  /** 'pop3' or 'imap' (accounts stored before POP3 have no protocol field); null when there is no such account. */
  async protocolOf(id: string): Promise<'imap' | 'pop3' | null> {
    const [accountId, protocol] = await this.redis.client.hmget(redisKeys.account(id), 'id', 'protocol');
    if (!accountId) return null;
    return protocol === 'pop3' ? 'pop3' : 'imap';
  }

  /** True only when the account exists and belongs to the user: callers answer both cases alike. */
  async isOwnedBy(id: string, userId: string): Promise<boolean> {
    return (await this.redis.client.hget(redisKeys.account(id), 'userId')) === userId;
  }

  async update(id: string, patch: PatchAccountBody): Promise<AccountView | null> {
    const key = redisKeys.account(id);
    if (!(await this.redis.client.exists(key))) return null;
    const fields: Record<string, string> = {};
    if (patch.imap) fields.imap = this.cipher.encrypt(JSON.stringify(patch.imap), { accountId: id, field: 'imap' });
    if (patch.smtp) fields.smtp = this.cipher.encrypt(JSON.stringify(patch.smtp), { accountId: id, field: 'smtp' });
    if (patch.mailboxes) fields.mailboxes = JSON.stringify(patch.mailboxes);
    // The caller has checked that these fit the account (a POP3 account; the gateway answers 400 otherwise).
    if (patch.pop3) fields.pop3 = this.cipher.encrypt(JSON.stringify(patch.pop3), { accountId: id, field: 'pop3' });
    if (patch.pollIntervalSeconds !== undefined) fields.pollIntervalSeconds = String(patch.pollIntervalSeconds);
    // The IMAP login may have changed: the mailbox index moves with it. Its sets are on other slots
    // of a Redis Cluster than the account, so in steps: the new entry first, the old one last. A
    // crash between them leaves an extra entry, whose notifications only cause a fetch that finds
    // nothing new; never a login whose notifications are not mapped.
    const previous = patch.imap ? await this.storedImap(id) : null;
    if (patch.imap) await this.redis.client.sadd(mailboxIndexKey(patch.imap), id);
    const tx = this.redis.client.multi().hset(key, fields).hincrby(key, 'version', 1);
    // A cached first page (libs/page-cache) was read from the old server or login: never served again.
    if (patch.imap) tx.del(redisKeys.firstPages(id));
    await tx.exec();
    if (patch.imap && previous && mailboxIndexKey(previous) !== mailboxIndexKey(patch.imap)) await this.redis.client.srem(mailboxIndexKey(previous), id);
    const view = await this.view(id);
    // Without an owner (deleted meanwhile) the notice still reaches the watchers; its 'deleted' follows.
    await this.publishChange({ accountId: id, change: 'updated', ...(view ? { userId: view.userId } : {}) });
    return view;
  }

  /** Removes the account and every key that belongs to it (all share the `{id}` hash tag). */
  async delete(id: string): Promise<boolean> {
    const userId = await this.redis.client.hget(redisKeys.account(id), 'userId');
    if (!userId) return false;
    // An account whose stored settings cannot be read (a lost key, a corrupted or swapped value)
    // must still be deletable; its notify-index entry then stays behind, and a notification that
    // maps to it finds no account and is dropped by the fetcher like any job of a deleted account.
    const imap = await this.storedImap(id).catch(() => null);
    // First out of every set that lists it (other slots on a Redis Cluster), then its own keys
    // (one slot, one MULTI). A crash between the two leaves an account nothing lists (not shown,
    // watched or counted) whose owner can still delete it: a retried delete completes.
    await Promise.all([
      this.redis.client.srem(redisKeys.accountIds(), id),
      this.redis.client.srem(redisKeys.userAccounts(userId), id),
      ...(imap ? [this.redis.client.srem(mailboxIndexKey(imap), id)] : []),
    ]);
    await this.redis.client.multi().del(redisKeys.account(id), redisKeys.accountState(id), redisKeys.eventLog(id)).exec();
    await this.redis.unlinkMatching(`*{${id}}*`);
    await this.publishChange({ accountId: id, change: 'deleted', userId });
    return true;
  }

  /**
   * Re-encrypts every account's settings with the current key (after a key rotation), bound to
   * the account and field (which migrates legacy unbound values). Each write is a compare-and-set,
   * so an API edit that lands meanwhile is re-read instead of overwritten.
   */
  async reencryptAll(): Promise<number> {
    let count = 0;
    for (const id of await this.listIds()) {
      for (let attempt = 0; attempt < 5; attempt++) {
        const field = (await this.redis.client.hget(redisKeys.account(id), 'protocol')) === 'pop3' ? 'pop3' : 'imap';
        const [imap, smtp] = await this.redis.client.hmget(redisKeys.account(id), field, 'smtp');
        if (!imap || !smtp) break;
        const swapped = await this.redis.client.eval(
          REPLACE_IF_UNCHANGED,
          1,
          redisKeys.account(id),
          imap,
          smtp,
          this.cipher.encrypt(this.cipher.decrypt(imap, { accountId: id, field }), { accountId: id, field }),
          this.cipher.encrypt(this.cipher.decrypt(smtp, { accountId: id, field: 'smtp' }), { accountId: id, field: 'smtp' }),
          field,
        );
        if (swapped === 1) {
          count++;
          break;
        }
      }
    }
    return count;
  }

  /**
   * The accounts whose IMAP login is `user` on one of `hosts`, with their watched mailboxes: what a
   * mail server's push notification maps to. An id whose account is gone (an index entry that
   * outlived a failed delete) is left out.
   */
  async accountsForLogin(hosts: readonly string[], user: string): Promise<Array<{ id: string; mailboxes: string[] }>> {
    const keys = hosts.map((host) => redisKeys.mailboxIndex(mailboxIndexDigest(host, user)));
    if (isCluster(this.redis.client)) return this.accountsForLoginInSteps(keys);
    // One round trip (was SMEMBERS, then a pipeline of HGETs): this runs once per notification,
    // inside the mail server's delivery, which waits for the ingress's answer.
    const rows = await runLua<string[]>(this.redis.client, ACCOUNTS_FOR_LOGIN, keys, ACCOUNT_KEY_AROUND_ID);
    const found: Array<{ id: string; mailboxes: string[] }> = [];
    for (let i = 0; i + 1 < rows.length; i += 2) found.push({ id: rows[i], mailboxes: JSON.parse(rows[i + 1]) as string[] });
    return found;
  }

  /**
   * {@link accountsForLogin} on a Redis Cluster, where the index sets and the accounts are on
   * different slots: one script cannot read them all. Each read is its own command (sent together
   * by auto-pipelining, routed per slot).
   */
  private async accountsForLoginInSteps(keys: string[]): Promise<Array<{ id: string; mailboxes: string[] }>> {
    const ids = [...new Set((await Promise.all(keys.map((key) => this.redis.client.smembers(key)))).flat())];
    const rows = await Promise.all(ids.map((id) => this.redis.client.hget(redisKeys.account(id), 'mailboxes')));
    const found: Array<{ id: string; mailboxes: string[] }> = [];
    rows.forEach((mailboxes, i) => {
      if (typeof mailboxes === 'string') found.push({ id: ids[i], mailboxes: JSON.parse(mailboxes) as string[] });
    });
    return found;
  }

  /**
   * Adds every stored account to the mailbox index (accounts stored before the index existed).
   * Idempotent (SADD); an account that cannot be decrypted is skipped and counted, not fatal.
   */
  async backfillMailboxIndex(): Promise<{ indexed: number; skipped: number }> {
    let indexed = 0;
    let skipped = 0;
    for (const id of await this.listIds()) {
      try {
        const imap = await this.storedImap(id);
        if (!imap) continue;
        await this.redis.client.sadd(mailboxIndexKey(imap), id);
        indexed++;
      } catch (err) {
        skipped++;
        this.logger.warn({ msg: 'account left out of the mailbox index', accountId: id, err });
      }
    }
    return { indexed, skipped };
  }

  /** `delivery`, when given, is what the account view shows: `poll` for an IMAP server without IDLE (the watcher knows once connected). */
  async setState(id: string, state: AccountState, error?: string, delivery?: AccountView['delivery']): Promise<void> {
    const key = redisKeys.accountState(id);
    const tx = this.redis.client.multi().hset(key, { state, updatedAt: Date.now(), ...(delivery ? { delivery } : {}) });
    if (error) tx.hset(key, 'error', error);
    else tx.hdel(key, 'error');
    tx.hincrby(key, 'version', 1);
    const results = await tx.exec();
    const stateVersion = Number(results?.at(-1)?.[1] ?? 0);
    // The account may have been deleted meanwhile: do not resurrect its state key.
    if (!(await this.redis.client.exists(redisKeys.account(id)))) await this.redis.client.del(key);
    const event: AccountStateEvent = error ? { accountId: id, state, error, stateVersion } : { accountId: id, state, stateVersion };
    await this.redis.client.publish(redisChannels.accountState, JSON.stringify(event));
  }

  async getState(id: string): Promise<{ state: AccountState; error?: string } | null> {
    const h = await this.redis.client.hgetall(redisKeys.accountState(id));
    if (!h.state) return null;
    return h.error ? { state: h.state as AccountState, error: h.error } : { state: h.state as AccountState };
  }

  publishChange(notice: AccountChangeNotice): Promise<number> {
    return this.redis.client.publish(redisChannels.accountsChanged, JSON.stringify(notice));
  }

  /** Account changes from any gateway, as they happen. */
  onChange(handler: (notice: AccountChangeNotice) => void): Promise<void> {
    this.changeHandlers.push(handler);
    return this.ensureSubscribed();
  }

  /** Account state changes from any watcher, as they happen. */
  onState(handler: (event: AccountStateEvent) => void): Promise<void> {
    this.stateHandlers.push(handler);
    return this.ensureSubscribed();
  }

  async onModuleDestroy(): Promise<void> {
    await this.subscriber?.quit().catch(() => undefined);
  }

  private async storedImap(id: string): Promise<Pick<ServerSettings, 'host' | 'user'> | null> {
    const imap = await this.redis.client.hget(redisKeys.account(id), 'imap');
    return imap ? (JSON.parse(this.cipher.decrypt(imap, { accountId: id, field: 'imap' })) as ServerSettings) : null;
  }

  private async ensureSubscribed(): Promise<void> {
    if (this.subscriber) return;
    this.subscriber = this.redis.open({ connectionName: 'account-changes' });
    this.subscriber.on('message', (channel: string, message: string) => {
      try {
        if (channel === redisChannels.accountsChanged) {
          const notice = AccountChangeNoticeSchema.parse(JSON.parse(message));
          for (const h of this.changeHandlers) h(notice);
        } else if (channel === redisChannels.accountState) {
          const event = JSON.parse(message) as AccountStateEvent;
          for (const h of this.stateHandlers) h(event);
        }
      } catch (err) {
        this.logger.warn({ msg: 'ignored malformed notice', channel, err });
      }
    });
    await this.subscriber.subscribe(redisChannels.accountsChanged, redisChannels.accountState);
  }
}

function mailboxIndexKey(imap: Pick<ServerSettings, 'host' | 'user'>): string {
  return redisKeys.mailboxIndex(mailboxIndexDigest(imap.host, imap.user));
}
