import { DynamicModule, Module } from '@nestjs/common';
import { AccountsModule } from '@pushmail/accounts';
import { AuthModule } from '@pushmail/auth';
import { ConfigModule } from '@pushmail/config';
import { CryptoModule } from '@pushmail/crypto';
import { EventLogModule } from '@pushmail/event-log';
import { ImapModule } from '@pushmail/imap';
import { MailboxCursorsModule } from '@pushmail/mailbox-cursors';
import { PageCacheModule } from '@pushmail/page-cache';
import { MailerModule } from '@pushmail/mailer';
import { ObservabilityModule } from '@pushmail/observability';
import { Pop3Module } from '@pushmail/pop3';
import { QueueModule } from '@pushmail/queue';
import { RedisModule } from '@pushmail/redis';
import { ImapCommandService } from './commands/imap-command.service';
import { StoredMessageReader } from './commands/stored-message-reader';
import { GatewayEnv } from './config';
import { AccountAdmission } from './http/account-admission.service';
import { AccountsController } from './http/accounts.controller';
import { AdminTokenGuard } from './http/admin-token.guard';
import { ClientTokenGuard } from './http/client-token.guard';
import { MeAccountsController } from './http/me-accounts.controller';
import { MeMailboxesController } from './http/me-mailboxes.controller';
import { OAuthSignInController } from './http/oauth-sign-in.controller';
import { OAuthSignInService } from './http/oauth-sign-in.service';
import { PartsController } from './http/parts.controller';
import { ImapMailboxService } from './imap/imap-mailbox.service';
import { PartLinksService } from './parts/part-links.service';
import { Pop3PartsService } from './parts/pop3-parts.service';
import { WindowLimiter } from './parts/window-limiter';
import { ShutdownService } from './lifecycle/shutdown.service';
import { EventChannelService } from './push/event-channel.service';
import { AccountChangesService } from './push/account-changes.service';
import { LiveEventsService } from './push/live-events.service';
import { DeliveryTransport } from './push/delivery-target';
import { SubscriptionService } from './push/subscription.service';
import { SendDeliveryService } from './send/send-delivery.service';
import { SendService } from './send/send.service';
import { SendStore } from './send/send.store';
import { SendWorker } from './send/send.worker';
import { PushGateway } from './socket/push.gateway';
import { SocketEmitter } from './socket/socket-emitter';
import { settingsProviders } from './settings';

/**
 * Everything of the gateway sits in this root module on purpose: its destroy hooks run before the
 * libraries' (Redis, queues), so the graceful shutdown can still talk to clients and Redis.
 */
@Module({})
export class GatewayModule {
  static forRoot(env: GatewayEnv): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        ConfigModule.forRoot(env),
        ObservabilityModule,
        RedisModule,
        CryptoModule,
        AccountsModule,
        EventLogModule,
        QueueModule,
        ImapModule,
        Pop3Module,
        MailboxCursorsModule,
        PageCacheModule,
        AuthModule,
        MailerModule,
      ],
      controllers: [AccountsController, MeAccountsController, MeMailboxesController, PartsController, OAuthSignInController],
      providers: [
        ...settingsProviders(env),
        AccountAdmission,
        OAuthSignInService,
        AdminTokenGuard,
        ClientTokenGuard,
        SocketEmitter,
        // Socket.IO is the transport SubscriptionService delivers through (see delivery-target.ts).
        { provide: DeliveryTransport, useExisting: SocketEmitter },
        PushGateway,
        ShutdownService,
        EventChannelService,
        SubscriptionService,
        LiveEventsService,
        AccountChangesService,
        StoredMessageReader,
        ImapCommandService,
        ImapMailboxService,
        PartLinksService,
        Pop3PartsService,
        WindowLimiter,
        SendStore,
        SendService,
        SendDeliveryService,
        SendWorker,
      ],
    };
  }
}
