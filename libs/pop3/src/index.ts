export * from './pop3-client';
export * from './pop3-client.factory';
export * from './pop3.module';
export * from './pop3-uid-store';
