import { Module } from '@nestjs/common';
import { ConfigService } from '@pushmail/config';
import { WatcherEnv } from '../config';
import { NotifySourceMatcher } from './notify-sources';
import { NotifyController } from './notify.controller';
import { NotifyMetrics } from './notify.metrics';
import { NotifyService } from './notify.service';

/** The push-notification ingress: stateless, served by every watcher replica. */
@Module({
  controllers: [NotifyController],
  providers: [
    { provide: NotifySourceMatcher, inject: [ConfigService], useFactory: (config: ConfigService<WatcherEnv>) => new NotifySourceMatcher(config.get('NOTIFY_SOURCES')) },
    NotifyMetrics,
    NotifyService,
  ],
})
export class NotifyModule {}
