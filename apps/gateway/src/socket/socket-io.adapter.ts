import { INestApplicationContext, Logger } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { MessageMappingProperties } from '@nestjs/websockets';
import { Observable, firstValueFrom } from 'rxjs';
import { HealthService } from '@pushmail/observability';
import { RedisService, isCluster } from '@pushmail/redis';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { Server, ServerOptions, Socket } from 'socket.io';
import { SocketData, closedServers } from './socket-types';

export interface SocketServerSettings {
  corsOrigin: boolean | string[];
  /** Largest message an authenticated client may send (a `message.send` with attachments, base64). */
  maxHttpBufferSize: number;
  /** Bytes queued towards one client that does not read, past which it is disconnected. */
  maxBufferedBytes: number;
  /** How long a peer may stay connected without authenticating; {@link AUTH_TIMEOUT_MS} by default. */
  authTimeoutMs?: number;
}

/** The most a peer that has not authenticated can make the gateway buffer: one frame or one POST. */
export const PRE_AUTH_MAX_BYTES = 64 * 1024;
export const AUTH_TIMEOUT_MS = 5_000;

type EngineConnection = Socket['conn'];
type EngineTransport = EngineConnection['transport'];
/** What the frame-size raise touches inside engine.io's transports (see {@link raiseFrameLimit}). */
interface TransportInternals {
  opts?: { maxHttpBufferSize?: number };
  socket?: { bufferedAmount?: number; terminate?: () => void; _receiver?: { _maxPayload?: number } | null };
}
const internals = (transport: EngineTransport): TransportInternals => transport as unknown as TransportInternals;

/** The adapter's Redis channels; separate from pushmail's own channels. */
export const SOCKET_ADAPTER_KEY = 'pm:sio';

/**
 * Socket.IO for the gateway: path `/socket.io`, CORS and buffer limits from the environment, and
 * the Redis adapter so that a room emit (send results) reaches clients on every gateway.
 */
export class GatewayIoAdapter extends IoAdapter {
  private readonly logger = new Logger('SocketServer');

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
      // Every peer starts with a 64 KB limit per frame or POST; the limit is raised per connection
      // once its token is verified (see guardConnections).
      maxHttpBufferSize: PRE_AUTH_MAX_BYTES,
      connectTimeout: this.settings.authTimeoutMs ?? AUTH_TIMEOUT_MS,
      cors: { origin: this.settings.corsOrigin },
      // Detect dead peers within ~45 s without chatty heartbeats.
      pingInterval: 25_000,
      pingTimeout: 20_000,
    });
    this.guardConnections(server);
    const redis = this.app.get(RedisService);
    const pub = redis.open({ connectionName: 'socket-adapter-pub' });
    const sub = redis.open({ connectionName: 'socket-adapter-sub', shardedSubscribers: true });
    // On a Redis Cluster, sharded pub/sub (Redis 7 SPUBLISH/SSUBSCRIBE): a notice goes to the
    // nodes of its channel's slot only, where a cluster forwards a classic PUBLISH to every node.
    server.adapter(isCluster(pub) ? createShardedAdapter(pub, sub, { channelPrefix: SOCKET_ADAPTER_KEY }) : createAdapter(pub, sub, { key: SOCKET_ADAPTER_KEY }));
    this.app.get(HealthService).register('socket-adapter', () => ({ ok: pub.status === 'ready' && sub.status === 'ready' }));
    return server as unknown as ReturnType<IoAdapter['createIOServer']>;
  }

  /**
   * Unauthenticated peers are held small and short. Why this mechanism rather than connect tickets
   * or uploading attachments over HTTP: it keeps the protocol as it is for every client (the token
   * in the Socket.IO `auth` payload, `message.send` carrying its attachments), while a peer without
   * a valid token can buffer at most {@link PRE_AUTH_MAX_BYTES} (engine.io's own per-frame and
   * per-POST limit: a larger frame closes the connection) and is dropped after the auth timeout
   * whether it sent nothing, something else, or a refused token. Only after the Socket.IO middleware
   * accepted the token ('connection' fires after it) is that connection's limit raised to the
   * `message.send` size. engine.io keeps no per-connection limit of its own, so the raise writes
   * the transport's copy of the option (polling) and the ws receiver's maxPayload (websocket); the
   * integration tests (a 1 MB unauthenticated frame is refused, a large authenticated send goes
   * through) pin this against upgrades of either library.
   *
   * Authenticated sockets are then watched for a client that stops reading: what the gateway has
   * queued for it (engine.io's write buffer plus the websocket's unsent bytes) may not pass
   * maxBufferedBytes; past it the connection is cut at once (not closed politely, which would wait
   * for the very buffer to drain) and the client resumes with `since` when it reconnects.
   */
  private guardConnections(server: Server): void {
    const admitted = new WeakSet<EngineConnection>();
    const timeoutMs = this.settings.authTimeoutMs ?? AUTH_TIMEOUT_MS;
    server.engine.on('connection', (conn: EngineConnection) => {
      const timer = setTimeout(() => {
        if (!admitted.has(conn)) conn.close(true);
      }, timeoutMs);
      timer.unref();
      conn.once('close', () => clearTimeout(timer));
    });
    server.on('connection', (socket: Socket) => {
      const conn = socket.conn;
      if (admitted.has(conn)) return;
      admitted.add(conn);
      raiseFrameLimit(conn, this.settings.maxHttpBufferSize);
      this.limitBuffered(socket, this.settings.maxBufferedBytes);
    });
  }

  private limitBuffered(socket: Socket, maxBytes: number): void {
    const conn = socket.conn;
    // Bytes of packets created since engine.io last handed its write buffer to the transport.
    let queued = 0;
    let cut = false;
    conn.on('flush', () => {
      queued = 0;
    });
    conn.on('packetCreate', (packet: { data?: unknown }) => {
      if (cut) return;
      queued += packetBytes(packet.data);
      const unsent = internals(conn.transport).socket?.bufferedAmount ?? 0;
      if (queued + unsent <= maxBytes) return;
      cut = true;
      this.logger.warn({ msg: 'client does not read its socket; disconnected', socketId: socket.id, userId: (socket.data as Partial<SocketData>).userId, bufferedBytes: queued + unsent });
      // terminate() frees the websocket's buffered bytes now; close(true) discards engine.io's own.
      internals(conn.transport).socket?.terminate?.();
      conn.close(true);
    });
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

/** Raises one connection's frame limit, on its current transport and on the one it upgrades to. */
function raiseFrameLimit(conn: EngineConnection, bytes: number): void {
  const apply = (transport: EngineTransport) => {
    const t = internals(transport);
    if (t.opts && typeof t.opts.maxHttpBufferSize === 'number') t.opts = { ...t.opts, maxHttpBufferSize: bytes };
    const receiver = t.socket?._receiver;
    if (receiver && typeof receiver._maxPayload === 'number') receiver._maxPayload = bytes;
  };
  apply(conn.transport);
  conn.on('upgrade', apply);
}

const packetBytes = (data: unknown) => (typeof data === 'string' ? Buffer.byteLength(data) : Buffer.isBuffer(data) ? data.length : 0);

/** What the gateway holds for one connection right now: engine.io's write buffer plus the websocket's unsent bytes. */
export function bufferedBytes(conn: EngineConnection): number {
  const writeBuffer = (conn as unknown as { writeBuffer?: Array<{ data?: unknown }> }).writeBuffer ?? [];
  return writeBuffer.reduce((n, packet) => n + packetBytes(packet.data), 0) + (internals(conn.transport).socket?.bufferedAmount ?? 0);
}
