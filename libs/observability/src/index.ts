export * from './redact';
export * from './json-logger';
export * from './metrics.service';
export * from './health.service';
export * from './health.controller';
export * from './observability.module';
