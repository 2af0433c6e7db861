import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import { ServerEvent, redisChannels } from '@pushmail/contracts';
import { parsePublishedEvent, publishedEventAccount } from '@pushmail/event-log';
import { HealthService } from '@pushmail/observability';
import { RedisClient, RedisService } from '@pushmail/redis';
import { SocketEmitter } from '../socket/socket-emitter';
import { SubscriptionService } from './subscription.service';

/**
 * Every gateway listens to the events channel itself and pushes to its own sockets only, so an
 * event crosses Redis once per gateway instead of once per client (and the adapter never sends
 * it twice). Account state notices arrive the same way and go to the local account rooms.
 */
@Injectable()
export class LiveEventsService implements OnModuleInit {
  private readonly logger = new Logger(LiveEventsService.name);
  private subscriber?: RedisClient;
  private readyOnce = false;

  constructor(
    private readonly redis: RedisService,
    private readonly subscriptions: SubscriptionService,
    private readonly accounts: AccountRepository,
    private readonly emitter: SocketEmitter,
    private readonly health: HealthService,
  ) {}

  async onModuleInit(): Promise<void> {
    const subscriber = this.redis.open({ connectionName: 'gateway-events' });
    this.subscriber = subscriber;
    subscriber.on('message', (_channel: string, message: string) => this.onMessage(message));
    // Hold live events from the moment the channel is lost; see SubscriptionService.holdAll.
    subscriber.on('close', () => {
      if (this.readyOnce) this.subscriptions.holdAll();
    });
    subscriber.on('ready', () => {
      // ioredis resubscribes by itself after a reconnect; what was published meanwhile is only in
      // the log. Subscribing again (a no-op) resolves only once the channel is live again, so the
      // catch-up read cannot miss the events published just before that moment.
      if (this.readyOnce) {
        subscriber
          .subscribe(redisChannels.events)
          .catch((err: unknown) => this.logger.warn({ msg: 'resubscribe to events channel failed', err }))
          // Even then: ioredis resubscribed by itself, and held subscriptions must not stay held.
          .then(() => this.subscriptions.resyncAll())
          .catch((err: unknown) => this.logger.warn({ msg: 'resync after events channel reconnect failed', err }));
      }
      this.readyOnce = true;
    });
    await subscriber.subscribe(redisChannels.events);
    this.health.register('events-channel', () => ({ ok: subscriber.status === 'ready' }));

    await this.accounts.onState((event) => {
      if (this.emitter.attached) this.emitter.toAccountLocal(event.accountId, ServerEvent.AccountState, event);
    });
    await this.accounts.onChange((notice) => {
      if (notice.change === 'deleted') this.subscriptions.dropAccount(notice.accountId);
    });
  }

  private onMessage(message: string): void {
    // Parsing a whole message payload costs more than everything else here; skip it for accounts
    // without a socket on this gateway (most of them, once there are several gateways).
    const target = publishedEventAccount(message);
    if (target !== undefined && !this.subscriptions.hasSubscribers(target)) return;
    try {
      const { accountId, event, seenAt } = parsePublishedEvent(message);
      this.subscriptions.deliver(accountId, event, seenAt);
    } catch (err) {
      this.logger.warn({ msg: 'ignored malformed event notice', err });
    }
  }
}
