import { Logger } from '@nestjs/common';
import Redis from 'ioredis';
import { StateStore, ttlMillis } from '../state-store';
import { COMPARE_AND_DELETE, INCREMENT_IN_WINDOW } from './redis-scripts';

/**
 * The state store in Redis: GETDEL, `SET NX PX` and Lua scripts keep every operation atomic; keys
 * expire by Redis itself. Requires Redis ≥ 6.2 (GETDEL).
 */
export class RedisStateStore extends StateStore {
  constructor(private readonly redis: Redis) {
    super();
  }

  /**
   * Opens the connection. While Redis is unreachable a command is retried once
   * (`maxRetriesPerRequest: 1`) and then fails, and a command that gets no answer within
   * `commandTimeout` fails too, so requests answer 503 instead of hanging.
   */
  static connect(url: string, commandTimeoutMs = 2_000): RedisStateStore {
    const logger = new Logger('Redis');
    const client = new Redis(url, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
      connectTimeout: 5_000,
      commandTimeout: commandTimeoutMs,
      lazyConnect: false,
      // Commands issued in the same turn of the event loop (concurrent requests: rate-limit counters,
      // vault deletes) go out in one write and come back in one read.
      enableAutoPipelining: true,
    });
    client.on('error', (err: Error & { code?: string }) => logger.warn({ msg: 'redis.error', code: err.code, name: err.name }));
    return new RedisStateStore(client);
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.redis.get(key)) ?? undefined;
  }

  async mget(keys: string[]): Promise<Array<string | undefined>> {
    if (keys.length === 0) return [];
    return (await this.redis.mget(...keys)).map((value) => value ?? undefined);
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.redis.set(key, value, 'PX', ttlMillis(ttlMs));
  }

  async setMany(entries: Array<{ key: string; value: string; ttlMs: number }>): Promise<void> {
    if (entries.length === 0) return;
    const multi = this.redis.multi();
    for (const { key, value, ttlMs } of entries) multi.set(key, value, 'PX', ttlMillis(ttlMs));
    const results = await multi.exec();
    const failed = results?.find(([error]) => error);
    if (failed) throw failed[0];
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(key, value, 'PX', ttlMillis(ttlMs), 'NX')) === 'OK';
  }

  async getAndDelete(key: string): Promise<string | undefined> {
    return (await this.redis.getdel(key)) ?? undefined;
  }

  async delete(keys: string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return this.redis.del(...keys);
  }

  async increment(key: string, windowMs: number): Promise<number> {
    return Number(await this.redis.eval(INCREMENT_IN_WINDOW, 1, key, ttlMillis(windowMs)));
  }

  async compareAndDelete(key: string, expected: string): Promise<boolean> {
    return Number(await this.redis.eval(COMPARE_AND_DELETE, 1, key, expected)) === 1;
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
