import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { randomToken } from '../crypto/secrets';
import { OIDC_REDIS } from '../oidc.tokens';

const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/**
 * Short exclusive locks shared by every instance (SET NX PX, compare-and-delete on release). A holder
 * that dies blocks nobody beyond the lock's TTL.
 */
@Injectable()
export class LockStore {
  constructor(@Inject(OIDC_REDIS) private readonly redis: Redis) {}

  /** Returns the owner value to release with, or undefined when someone else holds the lock. */
  async acquire(key: string, ttlMs: number): Promise<string | undefined> {
    const owner = randomToken(16);
    return (await this.redis.set(key, owner, 'PX', ttlMs, 'NX')) === 'OK' ? owner : undefined;
  }

  /** Releases the lock only if this owner still holds it. */
  async release(key: string, owner: string): Promise<void> {
    await this.redis.eval(UNLOCK, 1, key, owner);
  }

  async isHeld(key: string): Promise<boolean> {
    return (await this.redis.exists(key)) === 1;
  }
}
