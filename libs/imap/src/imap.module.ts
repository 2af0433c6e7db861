import { Global, Module } from '@nestjs/common';
import { BaseEnv, ConfigService, ImapLoginEnv } from '@pushmail/config';
import { CredentialsModule } from '@pushmail/credentials';
import { NetPolicyModule } from '@pushmail/net-policy';
import { ImapClientFactory } from './imap-client.factory';
import { ImapLoginSettings } from './imap-login.settings';

@Global()
@Module({
  imports: [NetPolicyModule, CredentialsModule],
  providers: [ImapClientFactory, { provide: ImapLoginSettings, useFactory: (config: ConfigService<BaseEnv & ImapLoginEnv>) => ImapLoginSettings.fromEnv(config.env), inject: [ConfigService] }],
  exports: [ImapClientFactory],
})
export class ImapModule {}
