import { Global, Module } from '@nestjs/common';
import { AccountRepository } from './account.repository';

@Global()
@Module({ providers: [AccountRepository], exports: [AccountRepository] })
export class AccountsModule {}
