import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';

/**
 * Real Redis topologies for the tests, from Debian's `redis-server` and `redis-cli` on PATH: a
 * Sentinel setup (master, replica, one sentinel) and a 3-master Cluster. Every process binds
 * 127.0.0.1 on free ports, keeps nothing on disk (`--save "" --appendonly no`, a temp dir), and is
 * stopped by `stop()` (also when the test process exits). Start-up is bounded; a topology that
 * cannot start throws, and the caller skips its tests with the printed reason.
 */
export interface RedisTopology {
  /** `REDIS_URL` of this topology. */
  url: string;
  /** How long the start took, ms. */
  startupMs: number;
  ports: number[];
  stop(): Promise<void>;
}

const exec = promisify(execFile);
const STARTUP_TIMEOUT_MS = 30_000;
const MASTER = 'mymaster';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** The outcome of starting a topology: it, or why it could not start. */
export async function tryStart(start: () => Promise<RedisTopology>): Promise<{ topology?: RedisTopology; skipped?: string }> {
  try {
    return { topology: await start() };
  } catch (error) {
    return { skipped: (error as Error).message };
  }
}

/** One master, one replica of it, and one sentinel monitoring it (quorum 1). */
export async function startSentinel(): Promise<RedisTopology> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'oidc-rp-sentinel-'));
  const children: ChildProcess[] = [];
  const stop = () => stopAll(children, dir);
  try {
    const [masterPort, replicaPort, sentinelPort] = await freePorts(3);
    children.push(redisServer(dir, ['--port', String(masterPort)]));
    children.push(redisServer(dir, ['--port', String(replicaPort), '--replicaof', '127.0.0.1', String(masterPort)]));
    await Promise.all([answers(masterPort, children), answers(replicaPort, children)]);
    await until('the replica to sync', children, async () => (await info(masterPort, 'replication')).includes('connected_slaves:1'));

    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER} 127.0.0.1 ${masterPort} 1`,
        `sentinel down-after-milliseconds ${MASTER} 1000`,
        `sentinel failover-timeout ${MASTER} 5000`,
        `sentinel parallel-syncs ${MASTER} 1`,
        '',
      ].join('\n'),
    );
    children.push(track(spawn('redis-server', [conf, '--sentinel'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })));
    await answers(sentinelPort, children);
    // Ready when the sentinel knows the master and has found its replica (needed for a failover).
    await until('the sentinel to find the replica', children, async () => {
      const replicas = (await cli(sentinelPort, 'SENTINEL', 'REPLICAS', MASTER)).trim();
      return replicas.includes(String(replicaPort));
    });
    return { url: `redis+sentinel://127.0.0.1:${sentinelPort}/${MASTER}`, startupMs: Date.now() - started, ports: [masterPort, replicaPort, sentinelPort], stop };
  } catch (error) {
    await stop();
    throw new Error(`the Sentinel setup did not start: ${(error as Error).message}`);
  }
}

/** Three masters (no replicas), slots spread by `redis-cli --cluster create`, `cluster_state:ok` on each. */
export async function startCluster(): Promise<RedisTopology> {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'oidc-rp-cluster-'));
  const children: ChildProcess[] = [];
  const stop = () => stopAll(children, dir);
  try {
    // A Cluster node also listens on port + 10000 (the cluster bus).
    const ports = await freePorts(3, true);
    for (const port of ports) {
      children.push(
        redisServer(dir, ['--port', String(port), '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000']),
      );
    }
    await Promise.all(ports.map((port) => answers(port, children)));
    await exec('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], { timeout: STARTUP_TIMEOUT_MS });
    await until('cluster_state:ok on every node', children, async () => {
      const states = await Promise.all(ports.map((p) => cli(p, 'CLUSTER', 'INFO')));
      return states.every((s) => s.includes('cluster_state:ok'));
    });
    return { url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, startupMs: Date.now() - started, ports, stop };
  } catch (error) {
    await stop();
    throw new Error(`the Cluster did not start: ${(error as Error).message}`);
  }
}

/** Runs one `redis-cli` command against a local port and returns its output. */
export async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await exec('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 5_000 });
  return stdout;
}

function redisServer(dir: string, args: string[]): ChildProcess {
  return track(spawn('redis-server', ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Keeps the process's output (for the error when it dies early) and stops it at exit at the latest. */
function track(child: ChildProcess): ChildProcess {
  const output: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.on('error', (error) => output.push(error.message));
  (child as ChildProcess & { output: string[] }).output = output;
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after 5 s; removes the temp dir. */
async function stopAll(children: ChildProcess[], dir: string): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resolve();
          const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  rmSync(dir, { recursive: true, force: true });
}

/** Resolves when a server on this port answers PING. */
async function answers(port: number, children: ChildProcess[]): Promise<void> {
  await until(`127.0.0.1:${port} to answer PING`, children, async () => {
    const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, connectTimeout: 500, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG';
    } finally {
      probe.disconnect();
    }
  });
}

async function info(port: number, section: string): Promise<string> {
  return cli(port, 'INFO', section);
}

/** Polls `check` every 100 ms until it is true; throws after the start-up timeout or when one of `children` died. */
async function until(what: string, children: ChildProcess[], check: () => Promise<boolean>, timeoutMs = STARTUP_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${(last as Error).message})` : ''}`);
    const dead = children.find((c) => c.exitCode !== null || c.pid === undefined);
    if (dead) throw new Error(`redis-server exited: ${(dead as ChildProcess & { output: string[] }).output.join('').trim().slice(-500)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `count` distinct free loopback ports (and, for a Cluster, port + 10000 free as well), from a random
 * range that stays clear of 6379 and the usual ephemeral ports.
 */
async function freePorts(count: number, withBus = false): Promise<number[]> {
  const ports: number[] = [];
  for (let tries = 0; ports.length < count; tries++) {
    if (tries > 200) throw new Error('found no free loopback ports');
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (ports.includes(port) || (withBus && ports.some((p) => Math.abs(p - port) === 10_000))) continue;
    if ((await isFree(port)) && (!withBus || (await isFree(port + 10_000)))) ports.push(port);
  }
  return ports;
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
