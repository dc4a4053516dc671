import { Injectable } from '@nestjs/common';
import { redisKeys } from './redis-keys';
import { StateStore } from './state-store';

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
  constructor(private readonly state: StateStore) {}

  async save(state: string, bindingHash: string, value: LoginState): Promise<void> {
    await this.state.set(redisKeys.loginState(state, bindingHash), JSON.stringify(value), LOGIN_STATE_TTL_SECONDS * 1000);
  }

  /**
   * Atomically takes the transaction. The key includes the hash of the browser-binding cookie, so
   * a state replayed, forged, expired or presented by another browser all find nothing.
   */
  async consume(state: string, bindingHash: string): Promise<LoginState | undefined> {
    const raw = await this.state.getAndDelete(redisKeys.loginState(state, bindingHash));
    return raw ? (JSON.parse(raw) as LoginState) : undefined;
  }
}
