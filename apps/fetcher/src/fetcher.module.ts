import { DynamicModule, Module } from '@nestjs/common';
import { AccountsModule } from '@pushmail/accounts';
import { ConfigModule } from '@pushmail/config';
import { CryptoModule } from '@pushmail/crypto';
import { EventLogModule } from '@pushmail/event-log';
import { PageCacheModule } from '@pushmail/page-cache';
import { ImapModule } from '@pushmail/imap';
import { ObservabilityModule } from '@pushmail/observability';
import { Pop3Module } from '@pushmail/pop3';
import { QueueModule } from '@pushmail/queue';
import { RedisModule } from '@pushmail/redis';
import { RecentAccounts } from './accounts/recent-accounts';
import { FetcherEnv } from './config';
import { MessageAssembler } from './fetch/message-assembler';
import { MessageFetcher } from './fetch/message-fetcher';
import { FetcherMetrics } from './fetcher.metrics';
import { ImapCommandsService } from './imap-commands.service';
import { MailboxCommandsService } from './mailbox-commands.service';
import { ImapConnectionPool } from './imap/imap-connection.pool';
import { MailboxEventsService } from './mailbox-events.service';
import { Pop3MailboxReader } from './pop3/pop3-mailbox.reader';
import { MessageLog } from './store/message-log';
import { ParserPool } from './parse/parser-pool';
import { settingsProviders } from './settings';
import { ImapCommandsProcessor } from './workers/imap-commands.processor';
import { MailboxEventsProcessor } from './workers/mailbox-events.processor';

@Module({})
export class FetcherModule {
  static forRoot(env: FetcherEnv): DynamicModule {
    return {
      module: FetcherModule,
      imports: [ConfigModule.forRoot(env), ObservabilityModule, RedisModule, CryptoModule, AccountsModule, QueueModule, EventLogModule, ImapModule, Pop3Module, PageCacheModule],
      providers: [
        FetcherMetrics,
        RecentAccounts,
        ...settingsProviders(env),
        ImapConnectionPool,
        MessageFetcher,
        ParserPool,
        MessageAssembler,
        MessageLog,
        MailboxEventsService,
        Pop3MailboxReader,
        ImapCommandsService,
        MailboxCommandsService,
        MailboxEventsProcessor,
        ImapCommandsProcessor,
      ],
    };
  }
}
