import { Logger } from '@nestjs/common';
import Redis, { Cluster, type RedisOptions } from 'ioredis';
import type { RedisConnection } from '../../oidc.options';
import { slotPart } from '../redis-keys';
import { StateStore, ttlMillis } from '../state-store';
import { COMPARE_AND_DELETE, INCREMENT_IN_WINDOW } from './redis-scripts';

/**
 * The state store in Redis: GETDEL, `SET NX PX` and Lua scripts keep every operation atomic; keys
 * expire by Redis itself. Requires Redis ≥ 6.2 (GETDEL). One node, a Sentinel-managed master, or a
 * Cluster: on a Cluster, MGET and DEL of keys in several slots are split into one command per slot
 * (sent together), and `setMany` needs keys of one hash tag (see `redis-keys.ts`).
 */
export class RedisStateStore extends StateStore {
  constructor(private readonly redis: Redis | Cluster) {
    super();
  }

  /**
   * Opens the connection. While Redis is unreachable a command is retried once
   * (`maxRetriesPerRequest: 1`) and then fails, and a command that gets no answer within
   * `commandTimeout` fails too, so requests answer 503 instead of hanging. Same options on every
   * topology (for a Cluster: on each node's connection).
   */
  static connect(connection: RedisConnection, commandTimeoutMs = 2_000): RedisStateStore {
    const logger = new Logger('Redis');
    const options: RedisOptions = {
      maxRetriesPerRequest: 1,
      connectTimeout: 5_000,
      commandTimeout: commandTimeoutMs,
      // A master demoted to a replica (a failover) answers writes with READONLY: reconnect (through
      // the sentinels, to the new master) and send the command again.
      reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
      // Commands issued in the same turn of the event loop (concurrent requests: rate-limit counters,
      // vault deletes) go out in one write and come back in one read.
      enableAutoPipelining: true,
    };
    let client: Redis | Cluster;
    switch (connection.kind) {
      case 'single':
        client = new Redis(connection.url, { ...options, enableOfflineQueue: true, lazyConnect: false });
        break;
      case 'sentinel':
        client = new Redis({
          ...options,
          sentinels: connection.sentinels,
          name: connection.name,
          db: connection.db,
          username: connection.username,
          password: connection.password,
          // Listens to the sentinels' +switch-master and moves to the new master at once.
          failoverDetector: true,
          enableOfflineQueue: true,
          lazyConnect: false,
        });
        break;
      case 'cluster':
        client = new Cluster(connection.nodes, {
          redisOptions: { ...options, username: connection.username, password: connection.password },
          enableAutoPipelining: true,
          enableOfflineQueue: true,
          lazyConnect: false,
        });
        client.on('node error', (err: Error & { code?: string }) => logger.warn({ msg: 'redis.node_error', code: err.code, name: err.name }));
        break;
    }
    client.on('error', (err: Error & { code?: string }) => logger.warn({ msg: 'redis.error', code: err.code, name: err.name }));
    return new RedisStateStore(client);
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.redis.get(key)) ?? undefined;
  }

  async mget(keys: string[]): Promise<Array<string | undefined>> {
    if (keys.length === 0) return [];
    const values: Array<string | undefined> = new Array(keys.length);
    await Promise.all(
      this.bySlot(keys).map(async (indexes) => {
        const found = await this.redis.mget(...indexes.map((i) => keys[i]));
        indexes.forEach((keyIndex, i) => (values[keyIndex] = found[i] ?? undefined));
      }),
    );
    return values;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.redis.set(key, value, 'PX', ttlMillis(ttlMs));
  }

  async setMany(entries: Array<{ key: string; value: string; ttlMs: number }>): Promise<void> {
    if (entries.length === 0) return;
    if (this.redis instanceof Cluster && this.bySlot(entries.map((e) => e.key)).length > 1) {
      // MULTI spans one slot on a Cluster; atomicity across slots is not to be had.
      throw new Error('RedisStateStore.setMany on a Cluster needs keys of one hash tag (see redis-keys.ts)');
    }
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
    const counts = await Promise.all(this.bySlot(keys).map((indexes) => this.redis.del(...indexes.map((i) => keys[i]))));
    return counts.reduce((sum, n) => sum + n, 0);
  }

  async increment(key: string, windowMs: number): Promise<number> {
    return Number(await this.redis.eval(INCREMENT_IN_WINDOW, 1, key, ttlMillis(windowMs)));
  }

  async compareAndDelete(key: string, expected: string): Promise<boolean> {
    return Number(await this.redis.eval(COMPARE_AND_DELETE, 1, key, expected)) === 1;
  }

  /**
   * One node or the Sentinel's master: PING. A Cluster: PING on every master it knows, and the
   * Cluster's own verdict (`cluster_state:ok`: every slot served), so a lost shard shows once the
   * other nodes have marked it failed (`cluster-node-timeout`).
   */
  async ping(): Promise<void> {
    if (this.redis instanceof Cluster) {
      const info = String(await this.redis.cluster('INFO'));
      if (!info.includes('cluster_state:ok')) throw new Error('Redis Cluster state is not ok');
      await Promise.all(this.redis.nodes('master').map((node) => node.ping()));
      return;
    }
    await this.redis.ping();
  }

  /**
   * The key indexes per command: one group on a single node (one command, as ever); on a Cluster one
   * group per hash slot part, since a multi-key command must stay in one slot.
   */
  private bySlot(keys: string[]): number[][] {
    if (!(this.redis instanceof Cluster)) return [keys.map((_, i) => i)];
    const groups = new Map<string, number[]>();
    keys.forEach((key, i) => {
      const part = slotPart(key);
      const group = groups.get(part);
      if (group) group.push(i);
      else groups.set(part, [i]);
    });
    return [...groups.values()];
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
