import { Global, Module } from '@nestjs/common';
import { ClientTokenVerifier } from './client-token.verifier';

@Global()
@Module({ providers: [ClientTokenVerifier], exports: [ClientTokenVerifier] })
export class AuthModule {}
