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

/**
 * One contract, both adapters, real servers: every operation, expiry with short TTLs, and atomicity
 * under concurrency. A server that does not answer skips its part (with the reason printed; the
 * probe is in support/contract-setup.ts), so the suite runs on a machine that has only one of them.
 */

const { redisUrl: REDIS_URL, pgAdminUrl: ADMIN_URL, databaseName: DB_NAME, redisDown, postgresDown } = inject('contract');
if (redisDown) console.warn(`[state-store contract] Redis part SKIPPED: ${new URL(REDIS_URL).host} does not answer (${redisDown})`);
if (postgresDown) console.warn(`[state-store contract] Postgres part SKIPPED: ${new URL(ADMIN_URL).host} does not answer (${postgresDown})`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The shared contract. `stores()` gives the store under test plus more connections to the same
 * backend (other "instances"); concurrent calls are spread over all of them.
 */
function contract(stores: () => StateStore[]) {
  const run = randomUUID();
  const used: string[] = [];
  const key = (name: string) => {
    const k = `oidc:contract:${run}:${name}`;
    used.push(k);
    return k;
  };
  const store = () => stores()[0];
  const spread = <T>(n: number, call: (s: StateStore, i: number) => Promise<T>) =>
    Promise.all(Array.from({ length: n }, (_, i) => call(stores()[i % stores().length], i)));

  afterAll(async () => {
    await store().delete(used);
  });

  it('get, set (overwrites value and TTL) and mget in key order', async () => {
    const [a, b, missing] = [key('a'), key('b'), key('missing')];
    expect(await store().get(a)).toBeUndefined();
    await store().set(a, 'one', 60_000);
    await store().set(b, 'two', 60_000);
    expect(await store().get(a)).toBe('one');
    expect(await store().mget([b, missing, a])).toEqual(['two', undefined, 'one']);
    expect(await store().mget([])).toEqual([]);
    await store().set(a, 'short', 150);
    await store().set(a, 'replaced', 60_000);
    await sleep(300);
    expect(await store().get(a)).toBe('replaced');
  });

  it('keys expire: an expired key is invisible to every operation', async () => {
    const k = key('ttl');
    await store().set(k, 'v', 150);
    expect(await store().get(k)).toBe('v');
    await sleep(350);
    expect(await store().get(k)).toBeUndefined();
    expect(await store().mget([k])).toEqual([undefined]);
    expect(await store().getAndDelete(k)).toBeUndefined();
    expect(await store().compareAndDelete(k, 'v')).toBe(false);
    expect(await store().delete([k])).toBe(0);
  });

  it('refuses a key without a positive TTL', async () => {
    const k = key('no-ttl');
    await expect(store().set(k, 'v', 0)).rejects.toThrow(RangeError);
    await expect(store().setIfAbsent(k, 'v', -5)).rejects.toThrow(RangeError);
    await expect(store().increment(k, Number.NaN)).rejects.toThrow(RangeError);
    expect(await store().get(k)).toBeUndefined();
  });

  it('setIfAbsent writes only an absent or expired key', async () => {
    const k = key('nx');
    expect(await store().setIfAbsent(k, 'first', 200)).toBe(true);
    expect(await store().setIfAbsent(k, 'second', 60_000)).toBe(false);
    expect(await store().get(k)).toBe('first');
    await sleep(400);
    expect(await store().setIfAbsent(k, 'third', 60_000)).toBe(true);
    expect(await store().get(k)).toBe('third');
  });

  it('getAndDelete returns the value once', async () => {
    const k = key('take');
    await store().set(k, 'v', 60_000);
    expect(await store().getAndDelete(k)).toBe('v');
    expect(await store().getAndDelete(k)).toBeUndefined();
    expect(await store().get(k)).toBeUndefined();
  });

  it('delete returns how many of the keys existed', async () => {
    const [a, b, missing] = [key('del-a'), key('del-b'), key('del-missing')];
    await store().set(a, '1', 60_000);
    await store().set(b, '2', 60_000);
    expect(await store().delete([a, b, missing])).toBe(2);
    expect(await store().mget([a, b])).toEqual([undefined, undefined]);
    expect(await store().delete([a])).toBe(0);
    expect(await store().delete([])).toBe(0);
  });

  it('increment counts in a fixed window that starts at the first hit and is not extended by later ones', async () => {
    const k = key('window');
    expect(await store().increment(k, 700)).toBe(1);
    await sleep(350);
    expect(await store().increment(k, 700)).toBe(2);
    // 950 ms after the first hit: the window (700 ms) is over; had the second hit extended it, it would still run.
    await sleep(600);
    expect(await store().increment(k, 700)).toBe(1);
    expect(await store().increment(k, 700)).toBe(2);
  });

  it('compareAndDelete deletes only for the owner', async () => {
    const k = key('lock');
    await store().set(k, 'owner-a', 60_000);
    expect(await store().compareAndDelete(k, 'owner-b')).toBe(false);
    expect(await store().get(k)).toBe('owner-a');
    expect(await store().compareAndDelete(k, 'owner-a')).toBe(true);
    expect(await store().get(k)).toBeUndefined();
    expect(await store().compareAndDelete(k, 'owner-a')).toBe(false);
  });

  it('ping answers', async () => {
    await expect(store().ping()).resolves.toBeUndefined();
  });

  describe('atomic under concurrency', () => {
    it('50 concurrent setIfAbsent: exactly one wins, and its value is stored', async () => {
      const k = key('race-nx');
      const results = await spread(50, (s, i) => s.setIfAbsent(k, `v${i}`, 60_000));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store().get(k)).toBe(`v${results.indexOf(true)}`);
    });

    it('50 concurrent setIfAbsent on an expired key: exactly one takes it over', async () => {
      const k = key('race-nx-expired');
      await store().set(k, 'old', 100);
      await sleep(250);
      const results = await spread(50, (s, i) => s.setIfAbsent(k, `v${i}`, 60_000));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('50 concurrent getAndDelete: exactly one gets the value', async () => {
      const k = key('race-take');
      await store().set(k, 'the-value', 60_000);
      const results = await spread(50, (s) => s.getAndDelete(k));
      expect(results.filter((v) => v !== undefined)).toEqual(['the-value']);
    });

    it('100 concurrent increments: counts 1 to 100, none lost', async () => {
      const k = key('race-incr');
      const results = await spread(100, (s) => s.increment(k, 60_000));
      expect([...results].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      expect(await store().get(k)).toBe('100');
    });

    it('50 concurrent compareAndDelete by the owner: exactly one deletes; a wrong owner never does', async () => {
      const k = key('race-cad');
      await store().set(k, 'owner', 60_000);
      expect((await spread(20, (s) => s.compareAndDelete(k, 'intruder'))).some(Boolean)).toBe(false);
      const results = await spread(50, (s) => s.compareAndDelete(k, 'owner'));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('50 concurrent delete of one key: it is counted once', async () => {
      const k = key('race-del');
      await store().set(k, 'v', 60_000);
      const counts = await spread(50, (s) => s.delete([k]));
      expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
    });
  });
}

describe.skipIf(redisDown !== undefined)('StateStore contract: Redis adapter', () => {
  const stores: RedisStateStore[] = [];
  beforeAll(() => {
    // Four connections: four app instances racing on the same keys.
    for (let i = 0; i < 4; i++) stores.push(RedisStateStore.connect({ kind: 'single', url: REDIS_URL }));
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });

  contract(() => stores);
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

  contract(() => stores);

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
