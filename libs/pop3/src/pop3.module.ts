import { Global, Module } from '@nestjs/common';
import { CredentialsModule } from '@pushmail/credentials';
import { NetPolicyModule } from '@pushmail/net-policy';
import { Pop3ClientFactory } from './pop3-client.factory';
import { Pop3UidStore } from './pop3-uid-store';

@Global()
@Module({ imports: [NetPolicyModule, CredentialsModule], providers: [Pop3ClientFactory, Pop3UidStore], exports: [Pop3ClientFactory, Pop3UidStore] })
export class Pop3Module {}
