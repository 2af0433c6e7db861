import { INestApplication } from '@nestjs/common';
import { BootstrapOptions, bootstrapApp } from '@pushmail/bootstrap';
import { gatewayEnvSchema } from './config';
import { GatewayModule } from './gateway.module';

export function bootstrap(options: BootstrapOptions = {}): Promise<INestApplication> {
  return bootstrapApp({ name: 'gateway', envSchema: gatewayEnvSchema, module: (env) => GatewayModule.forRoot(env) }, options);
}
