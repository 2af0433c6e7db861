import { DynamicModule, Module } from '@nestjs/common';
import { AccountsModule } from '@pushmail/accounts';
import { ConfigModule } from '@pushmail/config';
import { CryptoModule } from '@pushmail/crypto';
import { ObservabilityModule } from '@pushmail/observability';
import { QueueModule } from '@pushmail/queue';
import { RedisModule } from '@pushmail/redis';
import { CliEnv } from './config';
import { CredentialRotationService } from './credential-rotation.service';

@Module({})
export class CliModule {
  static forRoot(env: CliEnv): DynamicModule {
    return {
      module: CliModule,
      imports: [ConfigModule.forRoot(env), ObservabilityModule, RedisModule, CryptoModule, AccountsModule, QueueModule],
      providers: [CredentialRotationService],
    };
  }
}
