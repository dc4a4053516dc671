import { Injectable } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import { redisKeys } from './redis-keys';
import { StateStore } from './state-store';

/**
 * `@nestjs/throttler`'s storage on the state store, so that every instance counts against the same
 * limit: a fixed window per key (the counter's key names the window, the store's atomic increment
 * counts), blocked until the window ends once the limit is passed.
 */
@Injectable()
export class RateLimitStore implements ThrottlerStorage {
  constructor(private readonly state: StateStore) {}

  async increment(key: string, ttlMs: number, limit: number): Promise<ThrottlerStorageRecord> {
    const now = Date.now();
    const window = Math.floor(now / ttlMs);
    const totalHits = await this.state.increment(redisKeys.rateLimit(key, window), ttlMs);
    const timeToExpire = Math.max(1, Math.ceil(((window + 1) * ttlMs - now) / 1000));
    const isBlocked = totalHits > limit;
    return { totalHits, timeToExpire, isBlocked, timeToBlockExpire: isBlocked ? timeToExpire : 0 };
  }
}
