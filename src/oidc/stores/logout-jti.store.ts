import { Injectable } from '@nestjs/common';
import { sha256 } from '../crypto/secrets';
import { redisKeys } from './redis-keys';
import { StateStore } from './state-store';

/** Seen logout-token `jti`s: claimed with set-if-absent for the token's lifetime, released if the logout failed. */
@Injectable()
export class LogoutJtiStore {
  constructor(private readonly state: StateStore) {}

  /** True when this jti had not been seen; false for a replay. */
  async claim(issuer: string, jti: string, ttlSeconds: number): Promise<boolean> {
    const ttl = Math.max(1, Math.ceil(ttlSeconds));
    return this.state.setIfAbsent(this.key(issuer, jti), '1', ttl * 1000);
  }

  async release(issuer: string, jti: string): Promise<void> {
    await this.state.delete([this.key(issuer, jti)]);
  }

  private key(issuer: string, jti: string): string {
    return redisKeys.logoutJti(sha256(issuer).slice(0, 16), sha256(jti));
  }
}
