export * from './credential-cipher';
export * from './crypto.module';
