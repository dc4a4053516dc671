import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { OIDC_REDIS } from '../oidc.tokens';
import { redisKeys } from './redis-keys';

export interface LoginState {
  codeVerifier: string;
  nonce: string;
  returnTo: string;
  createdAt: number;
}

/** Login transactions: TTL ≤ 10 min, consumed exactly once. */
export const LOGIN_STATE_TTL_SECONDS = 600;

@Injectable()
export class LoginStateStore {
  constructor(@Inject(OIDC_REDIS) private readonly redis: Redis) {}

  async save(state: string, bindingHash: string, value: LoginState): Promise<void> {
    await this.redis.set(redisKeys.loginState(state, bindingHash), JSON.stringify(value), 'EX', LOGIN_STATE_TTL_SECONDS);
  }

  /**
   * Atomically takes the transaction. The key includes the hash of the browser-binding cookie, so
   * a state replayed, forged, expired or presented by another browser all find nothing.
   */
  async consume(state: string, bindingHash: string): Promise<LoginState | undefined> {
    const raw = await this.redis.getdel(redisKeys.loginState(state, bindingHash));
    return raw ? (JSON.parse(raw) as LoginState) : undefined;
  }
}
