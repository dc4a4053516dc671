import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { OIDC_REDIS } from '../oidc.tokens';

/** INCR, and start the window on the first hit; atomic, and works on any Redis version. */
const HIT = `local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n`;

/** Fixed-window attempt counters in Redis (never in process memory: several instances share them). */
@Injectable()
export class AttemptLimiterStore {
  constructor(@Inject(OIDC_REDIS) private readonly redis: Redis) {}

  /** Counts one attempt and returns the count within the window (the window starts at the first). */
  async hit(key: string, windowMs: number): Promise<number> {
    return Number(await this.redis.eval(HIT, 1, key, Math.max(1, Math.floor(windowMs))));
  }
}
