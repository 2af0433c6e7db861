import { Injectable } from '@nestjs/common';
import { FullMessageNewEvent, ParsedMessage, ServerEvent, redisKeys } from '@pushmail/contracts';
import { AppendOptions, AppendResult, EventLogService, SerializedPayload } from '@pushmail/event-log';
import { RedisService } from '@pushmail/redis';
import { RetentionSettings } from '../settings';

const deletedKey = (ref: MailboxGeneration, uid: number) => `deleted:${ref.mailbox}:${ref.uidValidity}:${uid}`;

/** A mailbox under one UIDVALIDITY: its UIDs name messages only within it. */
export interface MailboxGeneration {
  accountId: string;
  mailbox: string;
  uidValidity: number;
}

/** A ParsedMessage already serialized (on the parser thread), with the ids the store needs. */
export interface SerializedMessage extends MailboxGeneration {
  uid: number;
  json: string;
  /** Its MessageLogSummary (what the event log keeps), serialized beside it. */
  summaryJson: string;
}

/**
 * The account's event log and the message bodies stored beside it, as the fetcher writes (and
 * reads) them; the gateway only reads bodies, through its StoredMessageReader. Every append carries a
 * dedupe key derived from what happened (not from the job), so a job retried after a crash
 * between append and ack returns the first event instead of adding a second.
 *
 * Every append is cancelled (`cancelled: 'gone'`) when the account no longer exists: a late job
 * of a deleted account must not recreate its event log. The append script checks the account's
 * settings hash in the same atomic step (it shares the account's slot), so a deletion cannot slip
 * in between, and no job waits for a read of its own first: that read was one more Redis round
 * trip before every append whose account had not been read in the last few seconds.
 */
@Injectable()
export class MessageLog {
  constructor(
    private readonly redis: RedisService,
    private readonly eventLog: EventLogService,
    private readonly retention: RetentionSettings,
  ) {}

  /**
   * Cancelled when the message's deletion was logged first: it must not be announced after it. The
   * body is stored once (for BODY_CACHE_SECONDS); the log entry holds the summary and its key.
   */
  appendNew(message: SerializedMessage, seenAt?: number): Promise<AppendResult> {
    const { accountId, mailbox, uidValidity, uid } = message;
    return this.eventLog.appendGuarded(accountId, ServerEvent.MessageNew, new SerializedPayload(message.json), {
      ...this.appendOptions(accountId),
      dedupeKey: `new:${mailbox}:${uidValidity}:${uid}`,
      unlessLogged: deletedKey(message, uid),
      storeKey: redisKeys.message(accountId, mailbox, uidValidity, uid),
      storeTtlSeconds: this.retention.bodyCacheSeconds,
      summary: new SerializedPayload(message.summaryJson),
      seenAt,
    });
  }

  async find(ref: MailboxGeneration, uid: number): Promise<FullMessageNewEvent | ParsedMessage | null> {
    const json = await this.redis.client.get(redisKeys.message(ref.accountId, ref.mailbox, ref.uidValidity, uid));
    return json ? (JSON.parse(json) as FullMessageNewEvent | ParsedMessage) : null;
  }

  /** Stores a message fetched on demand, without an event; never replaces a copy that has one. */
  async storeWithoutEvent(message: ParsedMessage): Promise<void> {
    const key = redisKeys.message(message.accountId, message.mailbox, message.uidValidity, message.uid);
    await this.redis.client.set(key, JSON.stringify(message), 'EX', this.retention.bodyCacheSeconds, 'NX');
  }

  async appendFlags(ref: MailboxGeneration, uid: number, flags: string[], version: string): Promise<AppendResult> {
    const result = await this.eventLog.appendGuarded(ref.accountId, ServerEvent.MessageFlags, { accountId: ref.accountId, mailbox: ref.mailbox, uid, flags }, {
      ...this.appendOptions(ref.accountId),
      dedupeKey: `flags:${ref.mailbox}:${ref.uidValidity}:${uid}:${version}`,
    });
    if (!result.cancelled) await this.updateStoredFlags(ref, uid, flags);
    return result;
  }

  async appendDeleted(ref: MailboxGeneration, uid: number): Promise<AppendResult> {
    const result = await this.eventLog.appendGuarded(ref.accountId, ServerEvent.MessageDeleted, { accountId: ref.accountId, mailbox: ref.mailbox, uid }, {
      ...this.appendOptions(ref.accountId),
      dedupeKey: deletedKey(ref, uid),
    });
    if (!result.cancelled) await this.redis.client.unlink(redisKeys.message(ref.accountId, ref.mailbox, ref.uidValidity, uid));
    return result;
  }

  async appendReset(ref: MailboxGeneration, previousUidValidity?: number): Promise<AppendResult> {
    const result = await this.eventLog.appendGuarded(ref.accountId, ServerEvent.MailboxReset, { accountId: ref.accountId, mailbox: ref.mailbox, uidValidity: ref.uidValidity }, {
      ...this.appendOptions(ref.accountId),
      dedupeKey: `reset:${ref.mailbox}:${ref.uidValidity}`,
    });
    if (!result.cancelled && previousUidValidity !== undefined && previousUidValidity !== ref.uidValidity) {
      await this.deleteGeneration({ ...ref, uidValidity: previousUidValidity });
    }
    return result;
  }

  appendMailboxesChanged(accountId: string, changeId: string): Promise<AppendResult> {
    return this.eventLog.appendGuarded(accountId, ServerEvent.MailboxesChanged, { accountId }, {
      ...this.appendOptions(accountId),
      dedupeKey: `mailboxes:${changeId}`,
    });
  }

  /** What every append of the fetcher shares: the log's limits, and the account that must still exist. */
  private appendOptions(accountId: string): Pick<AppendOptions, 'ttlSeconds' | 'maxLen' | 'maxAgeSeconds' | 'whileExists'> {
    return { ttlSeconds: this.retention.dedupeTtlSeconds, maxLen: this.retention.eventLogMaxLen, maxAgeSeconds: this.retention.eventLogMaxAgeSeconds, whileExists: redisKeys.account(accountId) };
  }

  /** Keeps `message.get` answers current; the copy keeps its remaining TTL. */
  private async updateStoredFlags(ref: MailboxGeneration, uid: number, flags: string[]): Promise<void> {
    const key = redisKeys.message(ref.accountId, ref.mailbox, ref.uidValidity, uid);
    const json = await this.redis.client.get(key);
    if (!json) return;
    const stored = JSON.parse(json) as ParsedMessage;
    await this.redis.client.set(key, JSON.stringify({ ...stored, flags }), 'KEEPTTL', 'XX');
  }

  /** The messages of an old UIDVALIDITY can never be asked for again. */
  private async deleteGeneration(ref: MailboxGeneration): Promise<void> {
    const prefix = redisKeys.message(ref.accountId, ref.mailbox, ref.uidValidity, 0).replace(/0$/, '');
    await this.redis.unlinkMatching(`${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`);
  }
}
