import { Global, Module } from '@nestjs/common';
import { BaseEnv, ConfigService } from '@pushmail/config';
import { CredentialCipher } from './credential-cipher';

interface CryptoEnv {
  PUSHMAIL_SECRET_KEY?: string;
  PUSHMAIL_SECRET_KEY_PREVIOUS?: string[];
}

@Global()
@Module({
  providers: [
    {
      provide: CredentialCipher,
      inject: [ConfigService],
      useFactory: (config: ConfigService<BaseEnv & CryptoEnv>) => {
        const { env } = config;
        if (!env.PUSHMAIL_SECRET_KEY) throw new Error('PUSHMAIL_SECRET_KEY is required by this app');
        return new CredentialCipher(env.PUSHMAIL_SECRET_KEY, env.PUSHMAIL_SECRET_KEY_PREVIOUS ?? []);
      },
    },
  ],
  exports: [CredentialCipher],
})
export class CryptoModule {}
