import { Global, Module } from '@nestjs/common';
import { NetPolicyModule } from '@pushmail/net-policy';
import { SmtpMailer } from './smtp-mailer';

@Global()
@Module({ imports: [NetPolicyModule], providers: [SmtpMailer], exports: [SmtpMailer] })
export class MailerModule {}
