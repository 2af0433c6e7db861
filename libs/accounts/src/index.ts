export * from './account.repository';
export * from './accounts.module';
