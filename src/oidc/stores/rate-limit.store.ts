import { Injectable, Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import { redisKeys } from './redis-keys';
import { StateStore } from './state-store';

/**
 * `@nestjs/throttler`'s storage on the state store, so that every instance counts against the same
 * limit: a fixed window per key (the counter's key names the window length and number, the store's
 * atomic increment counts), blocked until the window ends once the limit is passed.
 *
 * It fails open: when the state store cannot count, the request goes on (and this is logged). A
 * limit must never be what turns a store outage into refused logins or, worse, lost back-channel
 * logouts, which are applied from Postgres alone.
 */
@Injectable()
export class RateLimitStore implements ThrottlerStorage {
  private readonly logger = new Logger('RateLimit');
  private lastWarning = 0;

  constructor(private readonly state: StateStore) {}

  async increment(key: string, ttlMs: number, limit: number): Promise<ThrottlerStorageRecord> {
    const now = Date.now();
    const window = Math.floor(now / ttlMs);
    const timeToExpire = Math.max(1, Math.ceil(((window + 1) * ttlMs - now) / 1000));
    let totalHits: number;
    try {
      totalHits = await this.state.increment(redisKeys.rateLimit(key, ttlMs, window), ttlMs);
    } catch (error) {
      if (now - this.lastWarning > 10_000) {
        this.lastWarning = now;
        this.logger.warn({ msg: 'rate_limit.unavailable', detail: 'the state store cannot count; requests pass unlimited', name: (error as Error)?.name });
      }
      return { totalHits: 0, timeToExpire, isBlocked: false, timeToBlockExpire: 0 };
    }
    const isBlocked = totalHits > limit;
    return { totalHits, timeToExpire, isBlocked, timeToBlockExpire: isBlocked ? timeToExpire : 0 };
  }
}
