import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import { ServerEvent } from '@pushmail/contracts';
import { parsePublishedEvent, publishedEventAccount } from '@pushmail/event-log';
import { HealthService } from '@pushmail/observability';
import { SocketEmitter } from '../socket/socket-emitter';
import { EventChannelService } from './event-channel.service';
import { SubscriptionService } from './subscription.service';

/**
 * Every gateway listens to the events channel itself and pushes to its own sockets only, so an
 * event crosses Redis once per gateway instead of once per client (and the adapter never sends
 * it twice). Account state notices arrive the same way and go to the local account rooms.
 */
@Injectable()
export class LiveEventsService implements OnModuleInit {
  private readonly logger = new Logger(LiveEventsService.name);
  private readyOnce = false;

  constructor(
    private readonly channels: EventChannelService,
    private readonly subscriptions: SubscriptionService,
    private readonly accounts: AccountRepository,
    private readonly emitter: SocketEmitter,
    private readonly health: HealthService,
  ) {}

  async onModuleInit(): Promise<void> {
    const subscriber = this.channels.subscriber;
    this.channels.onMessage((message) => this.onMessage(message));
    const hold = () => {
      if (this.readyOnce) this.subscriptions.holdAll();
    };
    const resync = () => {
      // ioredis resubscribes by itself after a reconnect; what was published meanwhile is only in
      // the log. Subscribing again (a no-op) resolves only once the channels are live again, so the
      // catch-up read cannot miss the events published just before that moment.
      if (this.readyOnce) {
        this.channels
          .listen()
          .catch((err: unknown) => this.logger.warn({ msg: 'resubscribe to events channel failed', err }))
          // Even then: ioredis resubscribed by itself, and held subscriptions must not stay held.
          .then(() => this.subscriptions.resyncAll())
          .catch((err: unknown) => this.logger.warn({ msg: 'resync after events channel reconnect failed', err }));
      }
    };
    // Hold live events from the moment a channel is lost; see SubscriptionService.holdAll. On a
    // cluster that is one master's subscriber (a failover): ioredis reports it as '-node', and
    // 'subscribersReady' once its subscribers are connected again.
    subscriber.on(this.channels.sharded ? '-node' : 'close', hold);
    subscriber.on(this.channels.sharded ? 'subscribersReady' : 'ready', resync);
    await this.channels.listen();
    // From here on a lost channel is a gap to catch up on (the connection may have become ready
    // before these listeners were added: it is opened with the app).
    this.readyOnce = true;
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
