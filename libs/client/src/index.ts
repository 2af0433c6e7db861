export * from './pushmail-client';
export * from './http-api';
export * from './cursor-store';
export * from './errors';
export * from './event-ids';
export * from './account-state';
