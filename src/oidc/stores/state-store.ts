/**
 * The port every domain store speaks to: short-lived state with a TTL on every key, and only the
 * atomic operations the stores need. One adapter per backend (`redis/`, `postgres/`), chosen by the
 * deployment (`OidcModuleOptions.stateStore`); both keep the same semantics, which
 * `test/state-store.contract-spec.ts` checks against real servers.
 *
 * Missing and expired keys read as `undefined`. TTLs are in milliseconds and must be positive.
 *
 * Keys come from `redisKeys` (`redis-keys.ts`). `mget` and `delete` take any keys; `setMany` takes
 * keys of one hash tag (`{…}`), which a Redis Cluster needs to keep the write atomic.
 */
export abstract class StateStore {
  abstract get(key: string): Promise<string | undefined>;

  /** One value per key, in the order of `keys`. */
  abstract mget(keys: string[]): Promise<Array<string | undefined>>;

  /** Writes the value and (re)starts its TTL. */
  abstract set(key: string, value: string, ttlMs: number): Promise<void>;

  /**
   * Writes several keys at once, atomically: a reader sees all of them or none of them. The keys
   * share one hash tag (the Redis Cluster adapter refuses others).
   */
  abstract setMany(entries: Array<{ key: string; value: string; ttlMs: number }>): Promise<void>;

  /** Writes only when the key is absent (or expired); true when this call wrote it. */
  abstract setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;

  /** Reads and deletes in one step: of two concurrent calls, only one gets the value. */
  abstract getAndDelete(key: string): Promise<string | undefined>;

  /** Deletes the keys (each atomically, not all of them as one step); returns how many existed. */
  abstract delete(keys: string[]): Promise<number>;

  /**
   * Adds one to a counter and returns the new count. The window is fixed: it starts at the first
   * increment (count 1, TTL `windowMs`) and later increments do not extend it.
   */
  abstract increment(key: string, windowMs: number): Promise<number>;

  /** Deletes the key only if it holds `expected`; true when this call deleted it. */
  abstract compareAndDelete(key: string, expected: string): Promise<boolean>;

  /** Resolves when the backend answers; rejects otherwise. */
  abstract ping(): Promise<void>;

  /** Releases what the adapter opened itself (called once, at shutdown). */
  abstract close(): Promise<void>;
}

/** A TTL as whole milliseconds (rounded up); a TTL that is not a positive number is a bug. */
export function ttlMillis(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`A state-store TTL must be a positive number of ms, got ${ttlMs}`);
  return Math.ceil(ttlMs);
}
