import { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { MessageMappingProperties } from '@nestjs/websockets';
import { Observable, firstValueFrom } from 'rxjs';
import { HealthService } from '@pushmail/observability';
import { RedisService } from '@pushmail/redis';
import { createAdapter } from '@socket.io/redis-adapter';
import { Server, ServerOptions } from 'socket.io';
import { closedServers } from './socket-types';

export interface SocketServerSettings {
  corsOrigin: boolean | string[];
  /** Largest message a client may send (a `message.send` with attachments, base64). */
  maxHttpBufferSize: number;
}

/** The adapter's Redis channels; separate from pushmail's own channels. */
export const SOCKET_ADAPTER_KEY = 'pm:sio';

/**
 * Socket.IO for the gateway: path `/socket.io`, CORS and buffer limits from the environment, and
 * the Redis adapter so that a room emit (send results) reaches clients on every gateway.
 */
export class GatewayIoAdapter extends IoAdapter {
  constructor(
    private readonly app: INestApplicationContext,
    private readonly settings: SocketServerSettings,
  ) {
    super(app);
  }

  // Nest's IoAdapter pins its own socket.io copy; the server is built from the app's socket.io
  // (the one the typed event maps and the Redis adapter use), hence the casts at this boundary.
  override createIOServer(port: number, options?: Partial<ServerOptions>): ReturnType<IoAdapter['createIOServer']> {
    if (port !== 0 || !this.httpServer) throw new Error('the gateway serves Socket.IO on its HTTP port only');
    const server = new Server(this.httpServer, {
      ...options,
      path: '/socket.io',
      serveClient: false,
      maxHttpBufferSize: this.settings.maxHttpBufferSize,
      cors: { origin: this.settings.corsOrigin },
      // Detect dead peers within ~45 s without chatty heartbeats.
      pingInterval: 25_000,
      pingTimeout: 20_000,
    });
    const redis = this.app.get(RedisService);
    const pub = redis.open({ connectionName: 'socket-adapter-pub' });
    const sub = redis.open({ connectionName: 'socket-adapter-sub' });
    server.adapter(createAdapter(pub, sub, { key: SOCKET_ADAPTER_KEY }));
    this.app.get(HealthService).register('socket-adapter', () => ({ ok: pub.status === 'ready' && sub.status === 'ready' }));
    return server as unknown as ReturnType<IoAdapter['createIOServer']>;
  }

  /**
   * Nest's default builds an rxjs pipeline per command handler for every socket (~20 KB of heap per
   * client with five commands, measured by the bench). Plain listeners do the same job: map the
   * payload, run the handler, and answer its ack (or emit `{ event, data }`), per call only.
   */
  override bindMessageHandlers(
    socket: Parameters<IoAdapter['bindMessageHandlers']>[0],
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    for (const { message, callback, isAckHandledManually } of handlers) {
      socket.on(String(message), (...args: unknown[]) => {
        const { data, ack } = this.mapPayload(args.length <= 1 ? args[0] : args);
        firstValueFrom(transform(callback(data, ack)), { defaultValue: undefined }).then(
          (response) => {
            if (response === undefined || response === null) return;
            const asEvent = response as { event?: string; data?: unknown };
            if (asEvent.event) return void socket.emit(asEvent.event, asEvent.data);
            if (!isAckHandledManually && typeof ack === 'function') ack(response);
          },
          () => undefined, // the handler's own exception filter has already answered
        );
      });
    }
  }

  override async close(server: Parameters<IoAdapter['close']>[0]): Promise<void> {
    if (closedServers.has(server)) return;
    closedServers.add(server);
    await super.close(server);
  }
}
