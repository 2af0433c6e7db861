import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ServerEvent } from '@pushmail/contracts';
import { HealthService } from '@pushmail/observability';
import { ShutdownSettings } from '../settings';
import { SocketEmitter } from '../socket/socket-emitter';

/**
 * Graceful shutdown (SIGTERM): stop taking connections, tell every client to reconnect elsewhere
 * (they resume with `since`, so nothing is lost), give them a moment to leave, then close the
 * Socket.IO server while Redis is still up. Lives in the root module, whose destroy hooks run
 * before the libraries' (Redis, queues) close their connections.
 */
@Injectable()
export class ShutdownService implements OnModuleDestroy {
  private readonly logger = new Logger(ShutdownService.name);
  private draining = false;

  constructor(
    private readonly emitter: SocketEmitter,
    private readonly health: HealthService,
    private readonly httpHost: HttpAdapterHost,
    private readonly settings: ShutdownSettings,
  ) {}

  get isDraining(): boolean {
    return this.draining;
  }

  async onModuleDestroy(): Promise<void> {
    this.draining = true;
    this.health.markShuttingDown();
    const server = this.httpHost.httpAdapter?.getHttpServer() as import('node:http').Server | undefined;
    server?.close(); // stops listening; open sockets stay until they leave or are closed below
    const clients = this.emitter.localClientCount();
    const jitter = this.settings.reconnectJitterMs;
    for (const socket of this.emitter.localSockets()) {
      this.emitter.toSocket(socket, ServerEvent.ServerShutdown, { reconnectInMs: Math.floor(Math.random() * jitter) });
    }
    const deadline = Date.now() + this.settings.drainMs;
    while (this.emitter.localClientCount() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    this.logger.log({ msg: 'drained socket clients', clients, remaining: this.emitter.localClientCount() });
    await this.emitter.close();
  }
}
