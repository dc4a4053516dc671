import Redis from 'ioredis';
import { Client } from 'pg';
import type { TestProject } from 'vitest/node';
import { type RedisTopology, startCluster, startSentinel, tryStart } from './redis-topologies';
import { acquirePostgres, releasePostgres } from './servers';

/** A Redis topology started for the contract: its `REDIS_URL`, ports and start-up time, or why it did not start. */
export interface StartedTopology {
  url?: string;
  ports?: number[];
  startupMs?: number;
  skipped?: string;
}

/** Where the state-store contract runs, and why a part of it cannot (the server did not answer). */
export interface ContractServers {
  redisUrl: string;
  pgAdminUrl: string;
  databaseName: string;
  redisDown?: string;
  postgresDown?: string;
  /** Master, replica, sentinel (ports in that order). */
  sentinel: StartedTopology;
  /** Three masters. */
  cluster: StartedTopology;
}

declare module 'vitest' {
  export interface ProvidedContext {
    contract: ContractServers;
  }
}

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15';
const DB_NAME = `${process.env.TEST_DB_NAME ?? 'oidc_rp_test'}_contract`;

const topologies: RedisTopology[] = [];

/**
 * Probes Redis and Postgres once, so that the spec can skip (not fail) the part whose server is down,
 * and starts a Sentinel setup and a Cluster from `redis-server` (stopped in teardown).
 */
export async function setup(project: TestProject): Promise<void> {
  const started = Promise.all([tryStart(startSentinel), tryStart(startCluster)]);
  const ADMIN_URL = await acquirePostgres('contract');
  const redisDown = await unreachable(async () => {
    const probe = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    let cause: Error | undefined;
    probe.on('error', (error: Error) => (cause ??= error));
    try {
      await probe.connect();
      await probe.ping();
    } catch (error) {
      throw cause ?? error;
    } finally {
      probe.disconnect();
    }
  });
  const postgresDown = await unreachable(async () => {
    const probe = new Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2_000 });
    try {
      await probe.connect();
    } finally {
      await probe.end().catch(() => undefined);
    }
  });
  const [sentinel, cluster] = (await started).map(({ topology, skipped }): StartedTopology => {
    if (!topology) return { skipped };
    topologies.push(topology);
    return { url: topology.url, ports: topology.ports, startupMs: topology.startupMs };
  });
  project.provide('contract', { redisUrl: REDIS_URL, pgAdminUrl: ADMIN_URL, databaseName: DB_NAME, redisDown, postgresDown, sentinel, cluster });
}

async function unreachable(probe: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await probe();
    return undefined;
  } catch (error) {
    return `${(error as Error).name}: ${(error as Error).message}`;
  }
}

export async function teardown(): Promise<void> {
  await Promise.all(topologies.splice(0).map((t) => t.stop()));
  await releasePostgres();
}
