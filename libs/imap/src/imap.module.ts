import { Global, Module } from '@nestjs/common';
import { NetPolicyModule } from '@pushmail/net-policy';
import { ImapClientFactory } from './imap-client.factory';

@Global()
@Module({ imports: [NetPolicyModule], providers: [ImapClientFactory], exports: [ImapClientFactory] })
export class ImapModule {}
