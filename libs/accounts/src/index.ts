export * from './account.repository';
export * from './accounts.module';
export * from './mailbox-index';
