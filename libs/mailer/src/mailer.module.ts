import { Global, Module } from '@nestjs/common';
import { CredentialsModule } from '@pushmail/credentials';
import { NetPolicyModule } from '@pushmail/net-policy';
import { SmtpMailer } from './smtp-mailer';

@Global()
@Module({ imports: [NetPolicyModule, CredentialsModule], providers: [SmtpMailer], exports: [SmtpMailer] })
export class MailerModule {}
