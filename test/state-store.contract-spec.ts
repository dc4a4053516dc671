import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { MIGRATIONS } from '../migrations';
import { dataSourceOptions } from '../src/database.options';
import { StatePurgeJob } from '../src/oidc/jobs/state-purge.job';
import { PostgresStateStore } from '../src/oidc/stores/postgres/postgres-state.store';
import { RedisStateStore } from '../src/oidc/stores/redis/redis-state.store';
import type { StateStore } from '../src/oidc/stores/state-store';
import { stateStoreContract } from './support/state-store-contract';

/**
 * One contract, both adapters, real servers: every operation, expiry with short TTLs, and atomicity
 * under concurrency. A server that does not answer skips its part (with the reason printed; the
 * probe is in support/contract-setup.ts), so the suite runs on a machine that has only one of them.
 */

const { redisUrl: REDIS_URL, pgAdminUrl: ADMIN_URL, databaseName: DB_NAME, redisDown, postgresDown } = inject('contract');
if (redisDown) console.warn(`[state-store contract] Redis part SKIPPED: ${new URL(REDIS_URL).host} does not answer (${redisDown})`);
if (postgresDown) console.warn(`[state-store contract] Postgres part SKIPPED: ${new URL(ADMIN_URL).host} does not answer (${postgresDown})`);


describe.skipIf(redisDown !== undefined)('StateStore contract: Redis adapter', () => {
  const stores: RedisStateStore[] = [];
  beforeAll(() => {
    // Four connections: four app instances racing on the same keys.
    for (let i = 0; i < 4; i++) stores.push(RedisStateStore.connect({ kind: 'single', url: REDIS_URL }));
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });

  stateStoreContract(() => stores);
});

describe.skipIf(postgresDown !== undefined)('StateStore contract: Postgres adapter', () => {
  const sources: DataSource[] = [];
  const stores: PostgresStateStore[] = [];

  beforeAll(async () => {
    const admin = new Client({ connectionString: ADMIN_URL });
    await admin.connect();
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB_NAME]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${DB_NAME}"`);
    await admin.end();
    const url = new URL(ADMIN_URL);
    url.pathname = `/${DB_NAME}`;
    // The table comes from the real migration.
    const migrator = new DataSource(dataSourceOptions(url.href, MIGRATIONS));
    await migrator.initialize();
    await migrator.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
    await migrator.runMigrations();
    await migrator.destroy();
    // Two connection pools: two app instances racing on the same rows.
    for (let i = 0; i < 2; i++) {
      const source = new DataSource(dataSourceOptions(url.href, []));
      await source.initialize();
      sources.push(source);
      stores.push(new PostgresStateStore(source));
    }
  });
  afterAll(async () => {
    await Promise.all(sources.map((s) => s.destroy()));
  });

  stateStoreContract(() => stores);

  it('the purge job deletes expired rows in batches, from two instances at once, and keeps live rows', async () => {
    const db = sources[0];
    const prefix = `oidc:contract:${randomUUID()}:purge`;
    await db.query(
      `INSERT INTO state_entries (key, value, expires_at)
       SELECT $1 || ':expired:' || n, 'x', now() - interval '1 second' FROM generate_series(1, 2500) AS n`,
      [prefix],
    );
    await stores[0].set(`${prefix}:live`, 'kept', 60_000);
    const purged = await Promise.all([new StatePurgeJob(stores[0]).purge(200), new StatePurgeJob(stores[1]).purge(200)]);
    expect(purged[0] + purged[1]).toBeGreaterThanOrEqual(2500);
    const left = await db.query(`SELECT count(*)::int AS n FROM state_entries WHERE expires_at < now()`);
    expect(left[0].n).toBe(0);
    expect(await stores[0].get(`${prefix}:live`)).toBe('kept');
    await stores[0].delete([`${prefix}:live`]);
  });

  it('the purge job runs every minute on the Postgres store, stops at shutdown, and does nothing on another store', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const job = new StatePurgeJob(stores[0]);
      const purge = vi.spyOn(job, 'purge');
      job.onApplicationBootstrap();
      vi.advanceTimersByTime(60_000);
      expect(purge).toHaveBeenCalledTimes(1);
      await job.onModuleDestroy();
      vi.advanceTimersByTime(180_000);
      expect(purge).toHaveBeenCalledTimes(1);

      const other = { purgeExpired: () => Promise.reject(new Error('must not be called')) } as unknown as StateStore;
      const idle = new StatePurgeJob(other);
      const idlePurge = vi.spyOn(idle, 'purge');
      idle.onApplicationBootstrap();
      vi.advanceTimersByTime(180_000);
      expect(idlePurge).not.toHaveBeenCalled();
      await expect(idle.purge()).resolves.toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
