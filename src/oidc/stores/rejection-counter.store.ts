import { Injectable } from '@nestjs/common';
import { sha256 } from '../crypto/secrets';
import type { RateLimit } from '../oidc.options';
import { clientIpBucket } from '../util/client-ip';
import { redisKeys } from './redis-keys';
import { StateStore } from './state-store';

/**
 * Rejected back-channel logout requests per client IP (IPv6: per /64), in fixed windows in the state
 * store (shared by instances). Only rejections count, so an OP's real logouts never use up the budget
 * however many it sends; a client that keeps posting bad tokens is refused before any signature check.
 * Fails open: when the store cannot count, nothing is refused.
 */
@Injectable()
export class RejectionCounterStore {
  constructor(private readonly state: StateStore) {}

  /** Seconds until this client may try again, or 0 when it is under the limit. */
  async retryAfter(clientIp: string | undefined, limit: RateLimit): Promise<number> {
    if (limit.limit === 0) return 0;
    const { key, secondsLeft } = this.window(clientIp, limit);
    try {
      return Number((await this.state.get(key)) ?? 0) >= limit.limit ? secondsLeft : 0;
    } catch {
      return 0;
    }
  }

  async count(clientIp: string | undefined, limit: RateLimit): Promise<void> {
    if (limit.limit === 0) return;
    const { key } = this.window(clientIp, limit);
    await this.state.increment(key, limit.windowMs).catch(() => undefined);
  }

  private window(clientIp: string | undefined, limit: RateLimit): { key: string; secondsLeft: number } {
    const now = Date.now();
    const window = Math.floor(now / limit.windowMs);
    return {
      key: redisKeys.rateLimit(`bcl-rejections:${sha256(clientIpBucket(clientIp))}`, limit.windowMs, window),
      secondsLeft: Math.max(1, Math.ceil(((window + 1) * limit.windowMs - now) / 1000)),
    };
  }
}
