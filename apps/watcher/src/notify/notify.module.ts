import { Module } from '@nestjs/common';
import { ConfigService } from '@pushmail/config';
import { MailboxCursorsModule } from '@pushmail/mailbox-cursors';
import { WatcherEnv } from '../config';
import { NotifySourceMatcher } from './notify-sources';
import { NotifyHttpIngress } from './notify-http';
import { NotifyMetrics } from './notify.metrics';
import { NotifyService } from './notify.service';

/** The push-notification ingress: stateless, served by every watcher replica. */
@Module({
  imports: [MailboxCursorsModule],
  providers: [
    { provide: NotifySourceMatcher, inject: [ConfigService], useFactory: (config: ConfigService<WatcherEnv>) => new NotifySourceMatcher(config.get('NOTIFY_SOURCES')) },
    NotifyMetrics,
    NotifyService,
    NotifyHttpIngress,
  ],
})
export class NotifyModule {}
