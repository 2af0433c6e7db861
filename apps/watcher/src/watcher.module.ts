import { DynamicModule, Module } from '@nestjs/common';
import { AccountsModule } from '@pushmail/accounts';
import { ConfigModule } from '@pushmail/config';
import { CryptoModule } from '@pushmail/crypto';
import { ImapModule } from '@pushmail/imap';
import { ObservabilityModule } from '@pushmail/observability';
import { Pop3Module } from '@pushmail/pop3';
import { QueueModule } from '@pushmail/queue';
import { RedisModule } from '@pushmail/redis';
import { WatcherEnv } from './config';
import { LeaseManager } from './coordination/lease.manager';
import { MembershipService } from './coordination/membership.service';
import { WatcherIdentity } from './coordination/watcher-identity';
import { CursorStore } from '@pushmail/mailbox-cursors';
import { NotifyModule } from './notify/notify.module';
import { MailboxSyncService } from './sync/mailbox-sync.service';
import { WatcherMetrics } from './watcher.metrics';
import { WatcherService } from './watcher.service';
import { settingsProviders } from './settings';

@Module({})
export class WatcherModule {
  static forRoot(env: WatcherEnv): DynamicModule {
    return {
      module: WatcherModule,
      imports: [ConfigModule.forRoot(env), ObservabilityModule, RedisModule, CryptoModule, AccountsModule, QueueModule, ImapModule, Pop3Module, NotifyModule],
      providers: [
        ...settingsProviders(env),
        { provide: WatcherIdentity, useValue: new WatcherIdentity(env.INSTANCE_ID) },
        LeaseManager,
        MembershipService,
        CursorStore,
        MailboxSyncService,
        WatcherMetrics,
        WatcherService,
      ],
    };
  }
}
