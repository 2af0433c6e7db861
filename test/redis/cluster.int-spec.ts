import { createServer, Server as HttpServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { createRedisConnection, RedisClient } from '@pushmail/redis';
import { TestRedisCluster, waitFor } from '@pushmail/testing';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { Server } from 'socket.io';
import { io as connectClient, Socket as ClientSocket } from 'socket.io-client';
import { SOCKET_ADAPTER_KEY } from '../../apps/gateway/src/socket/socket-io.adapter';

jest.setTimeout(60_000);

/** A Socket.IO server wired as the gateway wires it on a cluster: the sharded adapter over two cluster clients. */
async function shardedServer(cluster: TestRedisCluster): Promise<{ io: Server; http: HttpServer; url: string; clients: RedisClient[] }> {
  const pub = createRedisConnection(cluster.target());
  const sub = createRedisConnection(cluster.target(), { shardedSubscribers: true });
  for (const c of [pub, sub]) c.on('error', () => undefined);
  const http = createServer();
  const io = new Server(http);
  io.adapter(createShardedAdapter(pub, sub, { channelPrefix: SOCKET_ADAPTER_KEY }));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return { io, http, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, clients: [pub, sub] };
}

/**
 * The Redis Cluster path of the gateways' Socket.IO adapter: sharded pub/sub (SPUBLISH /
 * SSUBSCRIBE, one channel per room, on the node of the room's slot) over ioredis cluster clients.
 */
describe('Redis Cluster: the Socket.IO adapter in sharded mode', () => {
  let cluster: TestRedisCluster;
  const servers: Array<Awaited<ReturnType<typeof shardedServer>>> = [];
  const sockets: ClientSocket[] = [];

  beforeAll(async () => {
    cluster = await TestRedisCluster.start();
    servers.push(await shardedServer(cluster), await shardedServer(cluster));
  }, 60_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    for (const s of servers) {
      s.io.close();
      for (const c of s.clients) c.disconnect();
    }
    await cluster?.dispose();
  });

  it('carries a room emit from one server to a client of the other, for rooms on every master', async () => {
    const rooms = Array.from({ length: 12 }, (_, i) => `account:acc_room${i}`);
    const masters = new Set(await Promise.all(rooms.map(async (room) => (await cluster.masterFor(`${SOCKET_ADAPTER_KEY}#/#${room}#`)).port)));
    expect(masters.size).toBe(3);
    servers[1].io.on('connection', (socket) => void socket.join(rooms));
    const client = connectClient(servers[1].url, { transports: ['websocket'] });
    sockets.push(client);
    const heard: string[] = [];
    client.on('notice', (room: string) => heard.push(room));
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    // The other server's adapter learns of the room only through Redis.
    await waitFor(async () => (await servers[0].io.in(rooms[0]).fetchSockets()).length === 1, 10_000, 'the first server to see the remote socket');
    for (const room of rooms) servers[0].io.to(room).emit('notice', room);
    await waitFor(() => heard.length === rooms.length, 10_000, 'every room’s notice');
    expect(heard.sort()).toEqual([...rooms].sort());
  });
});
