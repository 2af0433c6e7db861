import { Injectable, Logger } from '@nestjs/common';
import { redisChannels } from '@pushmail/contracts';
import { EventLogService, accountEventsChannel } from '@pushmail/event-log';
import { RedisClient, RedisService, isCluster } from '@pushmail/redis';

/**
 * The gateway's subscriber connection to the events. On one Redis (or a Sentinel set) that is
 * the one events channel, which carries every account's events. On a Redis Cluster each account
 * has its own sharded channel (SPUBLISH, see `accountEventsChannel`), and the gateway SSUBSCRIBEs
 * only to the accounts it has sockets for: {@link watch} when an account gets its first local
 * subscriber, {@link unwatch} when it loses its last.
 */
/** SSUBSCRIBE is retried this often, this far apart, while a master's failover replaces its subscriber. */
const SUBSCRIBE_ATTEMPTS = 40;
const SUBSCRIBE_RETRY_MS = 250;

@Injectable()
export class EventChannelService {
  private readonly logger = new Logger(EventChannelService.name);
  readonly sharded: boolean;
  readonly subscriber: RedisClient;
  /** Accounts SSUBSCRIBEd (or being), sharded mode only. */
  private readonly watched = new Set<string>();

  constructor(redis: RedisService, eventLog: EventLogService) {
    this.sharded = eventLog.sharded;
    // One subscriber connection per master on a cluster: the accounts' channels are on every slot.
    this.subscriber = redis.open({ connectionName: 'gateway-events', shardedSubscribers: true });
  }

  /** Hears every event of the watched accounts (the wire format of `parsePublishedEvent`). */
  onMessage(handler: (message: string) => void): void {
    if (this.sharded) this.subscriber.on('smessage', (_channel: string, message: string) => handler(message));
    else this.subscriber.on('message', (_channel: string, message: string) => handler(message));
  }

  /** Subscribes to what {@link onMessage} hears; resolves once Redis has confirmed it (the channels are live). */
  async listen(): Promise<void> {
    if (!this.sharded) {
      await this.subscriber.subscribe(redisChannels.events);
      return;
    }
    // Again after a subscriber was lost: ioredis resubscribes by itself, but without waiting for
    // it; a repeated SSUBSCRIBE resolves once the channel is live, so a catch-up read after it
    // cannot miss what is published meanwhile.
    await this.ssubscribe([...this.watched].map(accountEventsChannel));
  }

  /**
   * Makes sure the account's events reach this gateway; resolves once they do, so a log read
   * started afterwards cannot miss an event published in between. A no-op on one Redis.
   */
  async watch(accountId: string): Promise<void> {
    if (!this.sharded) return;
    this.watched.add(accountId);
    await this.ssubscribe([accountEventsChannel(accountId)]);
  }

  /**
   * SSUBSCRIBE, retried through a master's failover: until ioredis has replaced the lost master's
   * subscriber, a channel of its slots has none ("No sharded subscriber for slot"); the slot map
   * is refreshed between attempts, which is what replaces it.
   */
  private async ssubscribe(channels: string[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await Promise.all(channels.map((channel) => this.subscriber.ssubscribe(channel)));
        return;
      } catch (err) {
        if (attempt >= SUBSCRIBE_ATTEMPTS) throw err;
        if (isCluster(this.subscriber)) this.subscriber.refreshSlotsCache();
        await new Promise((resolve) => setTimeout(resolve, SUBSCRIBE_RETRY_MS));
      }
    }
  }

  /** The account has no local subscriber any more. */
  unwatch(accountId: string): void {
    if (!this.sharded || !this.watched.delete(accountId)) return;
    this.subscriber.sunsubscribe(accountEventsChannel(accountId)).catch((err: unknown) => this.logger.warn({ msg: 'sunsubscribe failed', accountId, err }));
  }
}
