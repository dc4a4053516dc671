import { Injectable } from '@nestjs/common';
import type { VerifiedIdentity } from '../services/idp-client.service';
import { redisKeys } from './redis-keys';
import { StateStore } from './state-store';

/** What the callback verified about an identity that is not linked yet. */
export interface BindSession extends VerifiedIdentity {
  returnTo: string;
  expiresAt: number;
}

/** Bind sessions, keyed by the SHA-256 of the bind token; each has the bind TTL. */
@Injectable()
export class BindSessionStore {
  constructor(private readonly state: StateStore) {}

  async create(tokenHash: string, session: BindSession, ttlMs: number): Promise<void> {
    await this.state.set(redisKeys.bindSession(tokenHash), JSON.stringify(session), ttlMs);
  }

  async get(tokenHash: string): Promise<BindSession | undefined> {
    const raw = await this.state.get(redisKeys.bindSession(tokenHash));
    return raw ? (JSON.parse(raw) as BindSession) : undefined;
  }

  /** Deletes the bind session; true when this call was the one that removed it. */
  async consume(tokenHash: string): Promise<boolean> {
    return (await this.state.delete([redisKeys.bindSession(tokenHash)])) === 1;
  }
}
