import { INestApplication } from '@nestjs/common';
import { BootstrapOptions, bootstrapApp } from '@pushmail/bootstrap';
import { fetcherEnvSchema } from './config';
import { FetcherModule } from './fetcher.module';

export function bootstrap(options: BootstrapOptions = {}): Promise<INestApplication> {
  return bootstrapApp({ name: 'fetcher', envSchema: fetcherEnvSchema, module: (env) => FetcherModule.forRoot(env) }, options);
}
