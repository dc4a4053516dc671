import { Injectable } from '@nestjs/common';
import { randomToken } from '../crypto/secrets';
import { StateStore } from './state-store';

/**
 * Short exclusive locks shared by every instance (set-if-absent with a TTL, compare-and-delete on
 * release). A holder that dies blocks nobody beyond the lock's TTL.
 */
@Injectable()
export class LockStore {
  constructor(private readonly state: StateStore) {}

  /** Returns the owner value to release with, or undefined when someone else holds the lock. */
  async acquire(key: string, ttlMs: number): Promise<string | undefined> {
    const owner = randomToken(16);
    return (await this.state.setIfAbsent(key, owner, ttlMs)) ? owner : undefined;
  }

  /** Releases the lock only if this owner still holds it. */
  async release(key: string, owner: string): Promise<void> {
    await this.state.compareAndDelete(key, owner);
  }

  /** Whether this owner still holds the lock. */
  async holds(key: string, owner: string): Promise<boolean> {
    return (await this.state.get(key)) === owner;
  }

  async isHeld(key: string): Promise<boolean> {
    return (await this.state.get(key)) !== undefined;
  }
}
