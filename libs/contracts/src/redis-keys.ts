/**
 * Every Redis key and channel pushmail uses, in one place. Per-account keys share the account id
 * in a hash tag `{id}` so a Redis Cluster keeps an account's keys on one slot (Lua touches several).
 */
export const KEY_PREFIX = 'pm';

const tag = (accountId: string) => `{${accountId}}`;

export const redisKeys = {
  account: (accountId: string) => `${KEY_PREFIX}:account:${tag(accountId)}`,
  accountIds: () => `${KEY_PREFIX}:accounts`,
  userAccounts: (userId: string) => `${KEY_PREFIX}:user:${userId}:accounts`,
  accountState: (accountId: string) => `${KEY_PREFIX}:state:${tag(accountId)}`,
  cursor: (accountId: string, mailbox: string) => `${KEY_PREFIX}:cursor:${tag(accountId)}:${mailbox}`,
  /** Hash mailbox → UIDVALIDITY of every mailbox the watcher has a cursor for (the cursors' read side, libs/mailbox-cursors). */
  uidValidities: (accountId: string) => `${KEY_PREFIX}:validities:${tag(accountId)}`,
  eventLog: (accountId: string) => `${KEY_PREFIX}:events:${tag(accountId)}`,
  /** Hash `<mailbox>\n<limit>` → `<event id>\n<page JSON>`: cached first pages of message.list (libs/page-cache). */
  firstPages: (accountId: string) => `${KEY_PREFIX}:pages:${tag(accountId)}`,
  message: (accountId: string, mailbox: string, uidValidity: number, uid: number) =>
    `${KEY_PREFIX}:msg:${tag(accountId)}:${mailbox}:${uidValidity}:${uid}`,
  /** Marks an event as appended, so a retried job cannot append it twice. */
  eventDedupe: (accountId: string, dedupeKey: string) => `${KEY_PREFIX}:dedupe:${tag(accountId)}:${dedupeKey}`,
  watcherMembers: () => `${KEY_PREFIX}:watchers`,
  lease: (accountId: string) => `${KEY_PREFIX}:lease:${tag(accountId)}`,
  leaseFence: () => `${KEY_PREFIX}:lease-fence`,
  send: (sendId: string) => `${KEY_PREFIX}:send:${sendId}`,
  sendIdempotency: (accountId: string, idempotencyKey: string) => `${KEY_PREFIX}:send-idem:${tag(accountId)}:${idempotencyKey}`,
  sendRate: (userId: string) => `${KEY_PREFIX}:send-rate:${userId}`,
  /** Hash sendId → `<bytes>:<deadline ms>`: the user's sends whose payload Redis still holds (the send byte budget). */
  sendBytes: (userId: string) => `${KEY_PREFIX}:send-bytes:${userId}`,
  /** A command's result (e.g. `message.get`), left by the fetcher for the gateway to read once. */
  commandResult: (ref: string) => `${KEY_PREFIX}:cmd-result:${ref}`,
  /** List of FastCommandRequest JSON: gateways LPUSH, fetchers BRPOP. */
  commandRequests: `${KEY_PREFIX}:cmd-requests`,
  /**
   * Set of the account ids whose IMAP login is (host, user), keyed by a digest of the pair (see
   * `mailboxIndexDigest` in libs/accounts): the push-notification ingress maps a mail server's
   * notification to accounts with it.
   */
  mailboxIndex: (digest: string) => `${KEY_PREFIX}:mbx-index:${digest}`,
  /**
   * Hash job id → `{ name, data }` JSON: a failed job `pushmail cli requeue-failed-mail` has
   * removed and not yet added again (an interrupted run leaves it for the next; libs/queue).
   */
  requeuing: (queue: string) => `${KEY_PREFIX}:requeuing:${queue}`,
  /** Hash: an OAuth grant's cached access token (encrypted), its expiry, rotated refresh token, backoff; `…:lock` is its refresh lock. */
  oauthToken: (accountId: string, grant: string) => `${KEY_PREFIX}:oauth:${tag(accountId)}:${grant}`,
};

export const redisChannels = {
  /** {@link AccountChangeNotice} JSON: the owning watcher reconnects or drops the account. */
  accountsChanged: `${KEY_PREFIX}:accounts-changed`,
  /** `<accountId> <eventName> <json>` of every appended event, for the gateways' live push. */
  events: `${KEY_PREFIX}:events`,
  /** AccountStateEvent JSON. */
  accountState: `${KEY_PREFIX}:account-state`,
  /** MessageSentEvent / MessageSendFailedEvent, emitted by whichever gateway runs the send worker. */
  sendResults: `${KEY_PREFIX}:send-results`,
  /** {@link CommandReply} JSON for the commands one gateway asked for (`replyTo` is that gateway's id). */
  commandReplies: (replyTo: string) => `${KEY_PREFIX}:cmd-replies:${replyTo}`,
};

/** BullMQ key prefix; the hash tag keeps every queue key on one Redis Cluster slot. */
export const BULL_PREFIX = '{pm-bull}';
