import { Global, Module } from '@nestjs/common';
import { BaseEnv, ConfigService, MailNetworkEnv } from '@pushmail/config';
import { MailHostPolicy } from './mail-host-policy';

/** Mail connection settings every connecting app reads: the host policy and whether plain text is allowed. */
export class MailNetworkSettings {
  constructor(
    readonly policy: MailHostPolicy,
    /** ALLOW_INSECURE_MAIL: STARTTLS stays opportunistic instead of required. */
    readonly allowInsecure: boolean,
  ) {}

  static fromEnv(env: MailNetworkEnv): MailNetworkSettings {
    return new MailNetworkSettings(new MailHostPolicy({ allowPrivate: env.ALLOW_PRIVATE_MAIL_HOSTS, allowlist: env.MAIL_HOST_ALLOWLIST }), env.ALLOW_INSECURE_MAIL);
  }
}

/** Provides {@link MailNetworkSettings} from the app's validated environment (ConfigModule.forRoot). */
@Global()
@Module({
  providers: [{ provide: MailNetworkSettings, useFactory: (config: ConfigService<BaseEnv & MailNetworkEnv>) => MailNetworkSettings.fromEnv(config.env), inject: [ConfigService] }],
  exports: [MailNetworkSettings],
})
export class NetPolicyModule {}
