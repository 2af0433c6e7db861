import { Module } from '@nestjs/common';
import { FirstPageCache } from './first-page-cache';

/** The first-page cache of `message.list`: read by the gateway, filled and dropped by the fetcher. */
@Module({ providers: [FirstPageCache], exports: [FirstPageCache] })
export class PageCacheModule {}
