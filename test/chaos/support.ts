import { createConnection, createServer, Server, Socket } from 'node:net';

/**
 * A TCP load balancer in front of the gateways, as a Kubernetes Service is: each new connection
 * goes to the next upstream that accepts it, and a dead gateway's connections simply close. The
 * client is given this one address and must find its own way to a live gateway after a failure.
 */
export class TcpBalancer {
  private next = 0;
  private readonly open = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private upstreams: () => number[],
  ) {}

  static async start(upstreams: () => number[]): Promise<TcpBalancer> {
    const server = createServer();
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
    });
    const balancer = new TcpBalancer(server, port, upstreams);
    server.on('connection', (socket) => balancer.route(socket));
    return balancer;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private route(client: Socket, tried = 0): void {
    const ports = this.upstreams();
    if (!ports.length || tried >= ports.length) {
      client.destroy();
      return;
    }
    const port = ports[this.next++ % ports.length];
    const upstream = createConnection(port, '127.0.0.1');
    client.pause();
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      this.open.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      client.resume();
    });
    upstream.on('error', () => {
      // Refused: that gateway is down, try the next one for the same client connection.
      if (!connected) this.route(client, tried + 1);
      else client.destroy();
    });
    upstream.on('close', () => {
      this.open.delete(upstream);
      if (connected) client.destroy();
    });
    client.on('error', () => upstream.destroy());
    client.on('close', () => {
      this.open.delete(client);
      if (connected) upstream.destroy();
    });
  }
}

/** Nearest-rank percentile of `values` (0 < p <= 100). */
export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
