import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { type EmbeddedPostgres, startEmbeddedPostgres, tcpAnswers } from '../../scripts/embedded-postgres.mjs';

const SYSTEM_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

let embedded: Promise<EmbeddedPostgres> | undefined;
let users = 0;

/**
 * The Postgres the tests use (admin URL): TEST_PG_ADMIN_URL, else the one on 127.0.0.1:5432, else an
 * embedded one started for this run (in a temporary folder), shared by every setup that asks.
 */
export async function acquirePostgres(who: string): Promise<string> {
  if (process.env.TEST_PG_ADMIN_URL) {
    console.log(`[${who}] Postgres: TEST_PG_ADMIN_URL (${new URL(process.env.TEST_PG_ADMIN_URL).host})`);
    return process.env.TEST_PG_ADMIN_URL;
  }
  if (!embedded && (await tcpAnswers('127.0.0.1', 5432, 500))) {
    console.log(`[${who}] Postgres: 127.0.0.1:5432`);
    return SYSTEM_ADMIN_URL;
  }
  users += 1;
  if (!embedded) {
    const started = Date.now();
    embedded = startEmbeddedPostgres({ dataDir: mkdtempSync(join(tmpdir(), 'oidc-e2e-pg-')) });
    const server = await embedded;
    console.log(`[${who}] Postgres: none on 127.0.0.1:5432, embedded on 127.0.0.1:${server.port} for this run (started in ${Date.now() - started} ms)`);
  }
  return (await embedded).url;
}

/** Stops the embedded Postgres when its last user is done. */
export async function releasePostgres(): Promise<void> {
  if (!embedded || --users > 0) return;
  const server = await embedded;
  embedded = undefined;
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
}

/** Whether a Redis answers PING at this URL within a second (no retries). */
export async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}
