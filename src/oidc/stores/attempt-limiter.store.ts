import { Injectable } from '@nestjs/common';
import { StateStore } from './state-store';

/** Fixed-window attempt counters in the state store (never in process memory: several instances share them). */
@Injectable()
export class AttemptLimiterStore {
  constructor(private readonly state: StateStore) {}

  /** Counts one attempt and returns the count within the window (the window starts at the first). */
  async hit(key: string, windowMs: number): Promise<number> {
    return this.state.increment(key, Math.max(1, Math.floor(windowMs)));
  }
}
