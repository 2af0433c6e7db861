import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import IORedis from 'ioredis';
import { Server } from 'socket.io';
import { serveWorker } from '../lib/worker';

/**
 * The memory floor for the gateway: a bare Socket.IO server with the same Redis adapter, where a
 * client's `subscribe` only joins a room. What the gateway holds per client beyond this is its own.
 * Started with --expose-gc, so its figures are after a full GC like the apps'.
 */
let io: Server | undefined;
let redis: IORedis[] = [];

function memory(): { rss: number; heap: number } {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

serveWorker({
  start: async ({ redisUrl }: { redisUrl: string }) => {
    const http = createServer();
    io = new Server(http, { path: '/socket.io', serveClient: false, pingInterval: 25_000, pingTimeout: 20_000 });
    redis = [new IORedis(redisUrl), new IORedis(redisUrl)];
    io.adapter(createAdapter(redis[0], redis[1], { key: 'bench-floor' }));
    io.on('connection', (socket) => {
      socket.on('subscribe', (req: { accountId: string }, ack: (res: { ok: true; replayed: number }) => void) => {
        void socket.join(`account:${req.accountId}`);
        ack({ ok: true, replayed: 0 });
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    const { port } = http.address() as { port: number };
    return { url: `http://127.0.0.1:${port}` };
  },
  memory: async () => {
    await new Promise((r) => setTimeout(r, 500));
    return memory();
  },
  stop: async () => {
    io?.close();
    for (const r of redis) r.disconnect();
    return true;
  },
});
