import { DynamicModule, Module } from '@nestjs/common';
import { AccountsModule } from '@pushmail/accounts';
import { ConfigModule } from '@pushmail/config';
import { CryptoModule } from '@pushmail/crypto';
import { ObservabilityModule } from '@pushmail/observability';
import { QueueModule } from '@pushmail/queue';
import { RedisModule } from '@pushmail/redis';
import { WatcherEnv } from './config';

@Module({})
export class WatcherModule {
  static forRoot(env: WatcherEnv): DynamicModule {
    return {
      module: WatcherModule,
      imports: [ConfigModule.forRoot(env), ObservabilityModule, RedisModule, CryptoModule, AccountsModule, QueueModule],
    };
  }
}
