import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { OIDC_REDIS } from '../oidc.tokens';

/** Fixed-window attempt counters in Redis (never in process memory: several instances share them). */
@Injectable()
export class AttemptLimiterStore {
  constructor(@Inject(OIDC_REDIS) private readonly redis: Redis) {}

  /** Counts one attempt and returns the count within the window (the window starts at the first). */
  async hit(key: string, windowMs: number): Promise<number> {
    const results = await this.redis.multi().incr(key).pexpire(key, windowMs, 'NX').exec();
    const [error, count] = results?.[0] ?? [new Error('attempt counter failed'), 0];
    if (error) throw error;
    return Number(count);
  }
}
