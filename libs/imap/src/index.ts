export * from './imap-client.factory';
export * from './imap-login.settings';
export * from './imap.module';
export * from './imap-warm-up';
export * from './select-without-list';
export * from './login-refused';
