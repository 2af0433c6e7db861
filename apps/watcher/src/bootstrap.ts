import { INestApplication } from '@nestjs/common';
import { BootstrapOptions, bootstrapApp } from '@pushmail/bootstrap';
import { watcherEnvSchema } from './config';
import { WatcherModule } from './watcher.module';

export function bootstrap(options: BootstrapOptions = {}): Promise<INestApplication> {
  return bootstrapApp({ name: 'watcher', envSchema: watcherEnvSchema, module: (env) => WatcherModule.forRoot(env) }, options);
}
