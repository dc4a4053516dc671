import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { OIDC_REDIS } from '../oidc.tokens';
import { redisKeys } from './redis-keys';

/** What the callback verified about an identity that is not linked yet. */
export interface BindSession {
  issuer: string;
  subject: string;
  sid: string | null;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  returnTo: string;
  expiresAt: number;
}

/** Bind sessions, keyed by the SHA-256 of the bind token; each has the bind TTL. */
@Injectable()
export class BindSessionStore {
  constructor(@Inject(OIDC_REDIS) private readonly redis: Redis) {}

  async create(tokenHash: string, session: BindSession, ttlMs: number): Promise<void> {
    await this.redis.set(redisKeys.bindSession(tokenHash), JSON.stringify(session), 'PX', ttlMs);
  }

  async get(tokenHash: string): Promise<BindSession | undefined> {
    const raw = await this.redis.get(redisKeys.bindSession(tokenHash));
    return raw ? (JSON.parse(raw) as BindSession) : undefined;
  }

  /** Deletes the bind session; true when this call was the one that removed it. */
  async consume(tokenHash: string): Promise<boolean> {
    return (await this.redis.del(redisKeys.bindSession(tokenHash))) === 1;
  }

  /** A short exclusive lock so that only one confirm/create works on a token at a time. */
  async lock(tokenHash: string, ttlMs = 30_000): Promise<boolean> {
    return (await this.redis.set(redisKeys.bindLock(tokenHash), '1', 'PX', ttlMs, 'NX')) === 'OK';
  }

  async unlock(tokenHash: string): Promise<void> {
    await this.redis.del(redisKeys.bindLock(tokenHash));
  }
}
