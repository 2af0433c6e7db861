import { Global, Module } from '@nestjs/common';
import { CredentialsModule } from '@pushmail/credentials';
import { NetPolicyModule } from '@pushmail/net-policy';
import { ImapClientFactory } from './imap-client.factory';

@Global()
@Module({ imports: [NetPolicyModule, CredentialsModule], providers: [ImapClientFactory], exports: [ImapClientFactory] })
export class ImapModule {}
