import { Module } from '@nestjs/common';
import { MailboxValidities } from './mailbox-validities';

/**
 * The cursors' read side, for any app. The write side (CursorStore) is provided by the watcher
 * alone: only a lease owner may move a cursor.
 */
@Module({ providers: [MailboxValidities], exports: [MailboxValidities] })
export class MailboxCursorsModule {}
