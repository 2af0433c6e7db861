export * from './client-token';
export * from './client-token.verifier';
export * from './secret-compare';
export * from './auth.module';
export * from './part-link';
