export * from './event-log.service';
export * from './event-log.module';
