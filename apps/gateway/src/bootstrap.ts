import { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { BootstrapOptions, bootstrapApp } from '@pushmail/bootstrap';
import { GatewayEnv, gatewayEnvSchema } from './config';
import { GatewayModule } from './gateway.module';
import { serveWebClient } from './http/web-client';
import { GatewayIoAdapter } from './socket/socket-io.adapter';

/** Socket.IO must accept a whole `message.send`: base64 inflates attachments by 4/3, plus room for the JSON around them. */
export function socketBufferFor(sendMaxBytes: number): number {
  return Math.ceil((sendMaxBytes * 4) / 3) + 1024 * 1024;
}

/** `CORS_ORIGINS`: empty → same origin only, `*` → any origin, else the listed origins exactly. */
export function corsOrigin(origins: string[]): boolean | string[] {
  if (!origins.length) return false;
  return origins.includes('*') ? true : origins;
}

function configure(app: INestApplication, env: GatewayEnv): void {
  const http = app as NestExpressApplication;
  http.disable('x-powered-by');
  app.enableCors({ origin: corsOrigin(env.CORS_ORIGINS) });
  app.useWebSocketAdapter(new GatewayIoAdapter(app, { corsOrigin: corsOrigin(env.CORS_ORIGINS), maxHttpBufferSize: socketBufferFor(env.SEND_MAX_BYTES), maxBufferedBytes: env.SOCKET_MAX_BUFFERED_BYTES }));
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('pushmail gateway')
      .setDescription('Admin API (bearer ADMIN_TOKEN) and attachment downloads (bearer client token). The Socket.IO protocol is described in docs/protocol.md.')
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer' }, 'admin')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, 'client')
      .build(),
  );
  SwaggerModule.setup('api/docs', app, document);
  serveWebClient(http, env.WEB_DIR);
}

export function bootstrap(options: BootstrapOptions = {}): Promise<INestApplication> {
  return bootstrapApp({ name: 'gateway', envSchema: gatewayEnvSchema, module: (env) => GatewayModule.forRoot(env), configure }, options);
}
