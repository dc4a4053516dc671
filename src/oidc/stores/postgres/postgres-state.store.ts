import type { DataSource } from 'typeorm';
import { StateStore, ttlMillis } from '../state-store';

/** `expires_at` of a row written now with this TTL (ms), in the database's clock. */
const EXPIRES = `now() + $3::bigint * interval '1 millisecond'`;

/**
 * The state store in Postgres: one table, `state_entries (key, value, expires_at)` (see the
 * migration). Every operation is one SQL statement, so it is atomic across instances; expired rows
 * are invisible to every read and removed in batches by `StatePurgeJob`. Uses the host app's
 * TypeORM connection pool; the database clock (`now()`) is the only clock, so instances agree.
 */
export class PostgresStateStore extends StateStore {
  constructor(private readonly db: DataSource) {
    super();
  }

  async get(key: string): Promise<string | undefined> {
    const rows = await this.rows<{ value: string }>(`SELECT value FROM state_entries WHERE key = $1 AND expires_at > now()`, [key]);
    return rows[0]?.value;
  }

  async mget(keys: string[]): Promise<Array<string | undefined>> {
    if (keys.length === 0) return [];
    const rows = await this.rows<{ key: string; value: string }>(
      `SELECT key, value FROM state_entries WHERE key = ANY($1::text[]) AND expires_at > now()`,
      [keys],
    );
    const found = new Map(rows.map((row) => [row.key, row.value]));
    return keys.map((key) => found.get(key));
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.rows(
      `INSERT INTO state_entries (key, value, expires_at) VALUES ($1, $2, ${EXPIRES})
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
      [key, value, ttlMillis(ttlMs)],
    );
  }

  /** One statement for all keys, so it is atomic. */
  async setMany(entries: Array<{ key: string; value: string; ttlMs: number }>): Promise<void> {
    if (entries.length === 0) return;
    await this.rows(
      `INSERT INTO state_entries (key, value, expires_at)
       SELECT k, v, now() + t * interval '1 millisecond' FROM unnest($1::text[], $2::text[], $3::bigint[]) AS e(k, v, t)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
      [entries.map((e) => e.key), entries.map((e) => e.value), entries.map((e) => ttlMillis(e.ttlMs))],
    );
  }

  /** Inserts, or takes over a row that has expired; a live row is left alone and nothing is returned. */
  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    const rows = await this.rows(
      `INSERT INTO state_entries (key, value, expires_at) VALUES ($1, $2, ${EXPIRES})
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
         WHERE state_entries.expires_at <= now()
       RETURNING 1`,
      [key, value, ttlMillis(ttlMs)],
    );
    return rows.length === 1;
  }

  async getAndDelete(key: string): Promise<string | undefined> {
    const rows = await this.rows<{ value: string }>(
      `WITH taken AS (DELETE FROM state_entries WHERE key = $1 AND expires_at > now() RETURNING value) SELECT value FROM taken`,
      [key],
    );
    return rows[0]?.value;
  }

  /** Removes expired rows of these keys too, but counts only the live ones (as Redis would). */
  async delete(keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    const rows = await this.rows<{ deleted: number }>(
      `WITH gone AS (DELETE FROM state_entries WHERE key = ANY($1::text[]) RETURNING expires_at)
       SELECT count(*) FILTER (WHERE expires_at > now())::int AS deleted FROM gone`,
      [keys],
    );
    return rows[0].deleted;
  }

  /** A live counter is incremented in place; an absent or expired one restarts at 1 with a new window. */
  async increment(key: string, windowMs: number): Promise<number> {
    const rows = await this.rows<{ value: string }>(
      `INSERT INTO state_entries AS e (key, value, expires_at) VALUES ($1, '1', now() + $2::bigint * interval '1 millisecond')
       ON CONFLICT (key) DO UPDATE SET
         value      = CASE WHEN e.expires_at > now() THEN (e.value::bigint + 1)::text ELSE '1' END,
         expires_at = CASE WHEN e.expires_at > now() THEN e.expires_at ELSE EXCLUDED.expires_at END
       RETURNING e.value`,
      [key, ttlMillis(windowMs)],
    );
    return Number(rows[0].value);
  }

  async compareAndDelete(key: string, expected: string): Promise<boolean> {
    const rows = await this.rows(
      `WITH gone AS (DELETE FROM state_entries WHERE key = $1 AND value = $2 AND expires_at > now() RETURNING 1) SELECT 1 FROM gone`,
      [key, expected],
    );
    return rows.length === 1;
  }

  async ping(): Promise<void> {
    await this.rows('SELECT 1');
  }

  /** The connection pool belongs to the host app, which closes it. */
  async close(): Promise<void> {}

  /**
   * Deletes up to `limit` expired rows and returns how many. Rows locked by a concurrent purge on
   * another instance are skipped, so every instance may run this at the same time.
   */
  async purgeExpired(limit: number): Promise<number> {
    const rows = await this.rows<{ purged: number }>(
      `WITH gone AS (
         DELETE FROM state_entries WHERE key IN (
           SELECT key FROM state_entries WHERE expires_at < now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
         ) RETURNING 1
       ) SELECT count(*)::int AS purged FROM gone`,
      [limit],
    );
    return rows[0].purged;
  }

  /** Every statement above returns rows (data-modifying CTEs end in a SELECT), never a DELETE tuple. */
  private async rows<T = unknown>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.db.query(sql, params)) as T[];
  }
}
