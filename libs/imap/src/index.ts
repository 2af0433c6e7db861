export * from './imap-client.factory';
export * from './imap.module';
