import { Global, Module } from '@nestjs/common';
import { NetPolicyModule } from '@pushmail/net-policy';
import { Pop3ClientFactory } from './pop3-client.factory';

@Global()
@Module({ imports: [NetPolicyModule], providers: [Pop3ClientFactory], exports: [Pop3ClientFactory] })
export class Pop3Module {}
