import { DynamicModule, Module } from '@nestjs/common';
import { AccountsModule } from '@pushmail/accounts';
import { ConfigModule } from '@pushmail/config';
import { CryptoModule } from '@pushmail/crypto';
import { ObservabilityModule } from '@pushmail/observability';
import { QueueModule } from '@pushmail/queue';
import { RedisModule } from '@pushmail/redis';
import { FetcherEnv } from './config';

@Module({})
export class FetcherModule {
  static forRoot(env: FetcherEnv): DynamicModule {
    return {
      module: FetcherModule,
      imports: [ConfigModule.forRoot(env), ObservabilityModule, RedisModule, CryptoModule, AccountsModule, QueueModule],
    };
  }
}
