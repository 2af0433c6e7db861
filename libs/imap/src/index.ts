export * from './imap-client.factory';
export * from './imap.module';
export * from './select-without-list';
