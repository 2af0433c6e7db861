export * from './mail-credentials';
export * from './oauth-providers';
export * from './credentials.module';
export * from './token-request';
export * from './sasl';
