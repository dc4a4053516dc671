import { Injectable } from '@nestjs/common';
import { redisKeys } from './redis-keys';
import { StateStore } from './state-store';

/** Who is linking: the signed-in user and the session (of this browser) that started the link. */
export interface LinkRequest {
  userId: string;
  sessionId: string;
}

export interface LoginState {
  /** The provider this login was started with: the callback must be this provider's (mix-up defence). */
  provider: string;
  codeVerifier: string;
  /** `max_age` asked for: the ID token's `auth_time` is checked against it. */
  maxAge?: number;
  /** `acr_values` asked for: the ID token's `acr` must be one of them. */
  acrValues?: string[];
  /** A link from a signed-in session: the identity is linked to this user instead of signing in. */
  link?: LinkRequest;
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
