import { Global, Module } from '@nestjs/common';
import { ImapClientFactory } from './imap-client.factory';

@Global()
@Module({ providers: [ImapClientFactory], exports: [ImapClientFactory] })
export class ImapModule {}
