import { DynamicModule, Module } from '@nestjs/common';
import { AccountsModule } from '@pushmail/accounts';
import { ConfigModule } from '@pushmail/config';
import { CryptoModule } from '@pushmail/crypto';
import { EventLogModule } from '@pushmail/event-log';
import { ImapModule } from '@pushmail/imap';
import { ObservabilityModule } from '@pushmail/observability';
import { QueueModule } from '@pushmail/queue';
import { RedisModule } from '@pushmail/redis';
import { FetcherEnv } from './config';
import { MessageAssembler } from './fetch/message-assembler';
import { MessageFetcher } from './fetch/message-fetcher';
import { FetcherMetrics } from './fetcher.metrics';
import { ImapCommandsService } from './imap-commands.service';
import { MailboxCommandsService } from './mailbox-commands.service';
import { ImapConnectionPool } from './imap/imap-connection.pool';
import { MailboxEventsService } from './mailbox-events.service';
import { MessageStore } from './store/message-store';
import { ParserPool } from './parse/parser-pool';
import { ImapCommandsProcessor } from './workers/imap-commands.processor';
import { MailboxEventsProcessor } from './workers/mailbox-events.processor';

@Module({})
export class FetcherModule {
  static forRoot(env: FetcherEnv): DynamicModule {
    return {
      module: FetcherModule,
      imports: [ConfigModule.forRoot(env), ObservabilityModule, RedisModule, CryptoModule, AccountsModule, QueueModule, EventLogModule, ImapModule],
      providers: [
        FetcherMetrics,
        ImapConnectionPool,
        MessageFetcher,
        ParserPool,
        MessageAssembler,
        MessageStore,
        MailboxEventsService,
        ImapCommandsService,
        MailboxCommandsService,
        MailboxEventsProcessor,
        ImapCommandsProcessor,
      ],
    };
  }
}
