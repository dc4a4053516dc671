import { createServer, type Server, type Socket, connect } from 'node:net';
import { Transform } from 'node:stream';

/**
 * A TCP pass-through to a real server that the test can cut and restore: "the database is down"
 * without touching the shared Postgres.
 */
export class TcpProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private frozen = false;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    readonly port: number,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(this.gate()).pipe(upstream).pipe(this.gate()).pipe(client);
    });
    await new Promise<void>((resolve) => this.server?.listen(this.port, '127.0.0.1', resolve));
  }

  /** Keeps the connections open but forwards nothing any more, either way: a server that hangs. */
  freeze(): void {
    this.frozen = true;
  }

  /** Refuses new connections and kills the open ones. */
  async stop(): Promise<void> {
    this.frozen = false;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }

  /** Passes data through, or drops it while frozen. */
  private gate(): Transform {
    return new Transform({ transform: (chunk, _encoding, done) => done(null, this.frozen ? undefined : chunk) });
  }
}
