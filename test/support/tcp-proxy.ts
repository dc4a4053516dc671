import { createServer, type Server, type Socket, connect } from 'node:net';

/**
 * A TCP pass-through to a real server that the test can cut and restore ("the database is down"),
 * or stall and resume ("the database is slow": connections stay open, nothing is forwarded), without
 * touching the shared server.
 */
export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly pairs = new Set<[Socket, Socket]>();
  private stalled = false;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    readonly port: number,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      for (const s of pair) {
        this.sockets.add(s);
        s.on('close', () => {
          this.sockets.delete(s);
          this.pairs.delete(pair);
          // One side gone (e.g. the target refused the connection): close the other too.
          for (const other of pair) other.destroy();
        });
        s.on('error', () => s.destroy());
      }
      if (!this.stalled) this.pipe(pair);
    });
    await new Promise<void>((resolve) => this.server?.listen(this.port, '127.0.0.1', resolve));
  }

  /** Refuses new connections and kills the open ones. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  /** Keeps every connection open but forwards nothing, in either direction, until `resume()`. */
  stall(): void {
    this.stalled = true;
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  resume(): void {
    this.stalled = false;
    for (const pair of this.pairs) this.pipe(pair);
  }

  private pipe([client, upstream]: [Socket, Socket]): void {
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
