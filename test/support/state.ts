import Redis from 'ioredis';
import { Pool } from 'pg';
import type { E2eEnvironment } from './global-setup';

/**
 * What a test reads (and, rarely, writes) in the state store behind the app, whichever store the
 * vitest project uses: Redis keys, or rows of `state_entries` (expired rows are left out, as the app
 * does). Independent of the app's own adapters, so a test checks them rather than trusts them.
 */
export interface StateInspector {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** The live keys that start with `prefix`. */
  keys(prefix: string): Promise<string[]>;
  /** The live keys that start with `prefix`, with their values. */
  entries(prefix: string): Promise<Array<[key: string, value: string]>>;
  /** How many of these keys exist. */
  exists(...keys: string[]): Promise<number>;
  /** Remaining TTL in ms, or undefined when the key does not exist. */
  pttl(key: string): Promise<number | undefined>;
  delete(keys: string[]): Promise<void>;
  close(): Promise<void>;
}

export function stateInspector(env: E2eEnvironment): StateInspector {
  if (env.stateStore === 'redis') return redisInspector(new Redis(env.redisUrl as string));
  return postgresInspector(new Pool({ connectionString: env.databaseUrl, max: 2 }));
}

function redisInspector(redis: Redis): StateInspector {
  const keys = (prefix: string) => redis.keys(`${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`);
  return {
    get: async (key) => (await redis.get(key)) ?? undefined,
    set: async (key, value, ttlMs) => {
      await redis.set(key, value, 'PX', ttlMs);
    },
    keys,
    entries: async (prefix) => {
      const found = await keys(prefix);
      if (found.length === 0) return [];
      const values = await redis.mget(...found);
      return found.flatMap((key, i) => (values[i] === null ? [] : [[key, values[i] as string] as [string, string]]));
    },
    exists: (...keys) => redis.exists(...keys),
    pttl: async (key) => {
      const ttl = await redis.pttl(key);
      return ttl < 0 ? undefined : ttl;
    },
    delete: async (keys) => {
      if (keys.length) await redis.del(...keys);
    },
    close: async () => {
      await redis.quit();
    },
  };
}

function postgresInspector(db: Pool): StateInspector {
  const LIVE = 'expires_at > now()';
  const entries = async (prefix: string): Promise<Array<[string, string]>> => {
    const { rows } = await db.query(`SELECT key, value FROM state_entries WHERE starts_with(key, $1) AND ${LIVE}`, [prefix]);
    return rows.map((row) => [row.key, row.value]);
  };
  return {
    get: async (key) => (await db.query(`SELECT value FROM state_entries WHERE key = $1 AND ${LIVE}`, [key])).rows[0]?.value,
    set: async (key, value, ttlMs) => {
      await db.query(
        `INSERT INTO state_entries (key, value, expires_at) VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond')
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
        [key, value, ttlMs],
      );
    },
    keys: async (prefix) => (await entries(prefix)).map(([key]) => key),
    entries,
    exists: async (...keys) => (await db.query(`SELECT count(*)::int AS n FROM state_entries WHERE key = ANY($1::text[]) AND ${LIVE}`, [keys])).rows[0].n,
    pttl: async (key) => {
      const { rows } = await db.query(`SELECT floor(extract(epoch FROM expires_at - now()) * 1000)::bigint AS ttl FROM state_entries WHERE key = $1 AND ${LIVE}`, [key]);
      return rows[0] ? Number(rows[0].ttl) : undefined;
    },
    delete: async (keys) => {
      await db.query(`DELETE FROM state_entries WHERE key = ANY($1::text[])`, [keys]);
    },
    close: () => db.end(),
  };
}
