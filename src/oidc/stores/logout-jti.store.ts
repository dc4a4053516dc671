import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { sha256 } from '../crypto/secrets';
import { OIDC_REDIS } from '../oidc.tokens';
import { redisKeys } from './redis-keys';

/** Seen logout-token `jti`s: claimed with SET NX for the token's lifetime, released if the logout failed. */
@Injectable()
export class LogoutJtiStore {
  constructor(@Inject(OIDC_REDIS) private readonly redis: Redis) {}

  /** True when this jti had not been seen; false for a replay. */
  async claim(issuer: string, jti: string, ttlSeconds: number): Promise<boolean> {
    const ttl = Math.max(1, Math.ceil(ttlSeconds));
    return (await this.redis.set(this.key(issuer, jti), '1', 'EX', ttl, 'NX')) === 'OK';
  }

  async release(issuer: string, jti: string): Promise<void> {
    await this.redis.del(this.key(issuer, jti));
  }

  private key(issuer: string, jti: string): string {
    return redisKeys.logoutJti(sha256(issuer).slice(0, 16), sha256(jti));
  }
}
