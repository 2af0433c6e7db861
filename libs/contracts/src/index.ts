export * from './common';
export * from './queues';
export * from './jobs';
export * from './accounts';
export * from './messages';
export * from './socket';
export * from './redis-keys';
export * from './urls';
