import { Global, Module } from '@nestjs/common';
import { BaseEnv, ConfigService } from '@pushmail/config';
import { CredentialCipher } from '@pushmail/crypto';
import { MailNetworkSettings, NetPolicyModule } from '@pushmail/net-policy';
import { MetricsService } from '@pushmail/observability';
import { RedisService } from '@pushmail/redis';
import { MailCredentialProvider, MailCredentials } from './mail-credentials';
import { OAuthProviderEnv } from './oauth-providers';

/** Provides {@link MailCredentialProvider} (also as {@link MailCredentials}); the app's config carries the OAUTH_* settings (oauthEnvShape). */
@Global()
@Module({
  imports: [NetPolicyModule],
  providers: [
    {
      provide: MailCredentialProvider,
      inject: [RedisService, CredentialCipher, MailNetworkSettings, ConfigService, MetricsService],
      useFactory: (redis: RedisService, cipher: CredentialCipher, network: MailNetworkSettings, config: ConfigService<BaseEnv & OAuthProviderEnv>, metrics: MetricsService) =>
        new MailCredentialProvider(redis, cipher, network, config.env, metrics),
    },
    { provide: MailCredentials, useExisting: MailCredentialProvider },
  ],
  exports: [MailCredentialProvider, MailCredentials],
})
export class CredentialsModule {}
