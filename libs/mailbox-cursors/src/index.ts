export * from './mailbox-cursor';
export * from './cursor.store';
export * from './mailbox-validities';
export * from './mailbox-cursors.module';
