export * from './queue.service';
export * from './queue.module';
export * from './job-handlers';
export * from './worker-errors';
export * from './retry-backoff';
