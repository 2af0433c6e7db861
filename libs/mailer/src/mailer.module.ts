import { Global, Module } from '@nestjs/common';
import { SmtpMailer } from './smtp-mailer';

@Global()
@Module({ providers: [SmtpMailer], exports: [SmtpMailer] })
export class MailerModule {}
