export * from './smtp-errors';
export * from './smtp-mailer';
export * from './mailer.module';
