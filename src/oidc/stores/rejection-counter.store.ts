import { Injectable } from '@nestjs/common';
import { sha256 } from '../crypto/secrets';
import type { RateLimit } from '../oidc.options';
import { clientIpBucket } from '../util/client-ip';
import { redisKeys } from './redis-keys';
import { StateStore } from './state-store';

/** How long a read under the limit is taken as the answer (see `underLimit`). */
const UNDER_LIMIT_CACHE_MS = 1000;

/**
 * Rejected back-channel logout requests per client IP (IPv6: per /64), in fixed windows in the state
 * store (shared by instances). Only rejections count, so an OP's real logouts never use up the budget
 * however many it sends; a client that keeps posting bad tokens is refused before any signature check.
 * Fails open: when the store cannot count, nothing is refused.
 */
@Injectable()
export class RejectionCounterStore {
  /**
   * The hashed bucket of a client IP, remembered (a pure function of the IP: parsing it and hashing it
   * were a visible share of every back-channel request). Bounded: emptied when it holds 1,000 IPs. The
   * counters themselves stay in the state store.
   */
  private readonly buckets = new Map<string, string>();

  /**
   * Counter keys read well under the limit (at most half of it) in the last second, by this instance,
   * with no rejection counted here since: an OP sending valid logouts (never counted) costs one read a
   * second, not one a request. A rejection counted here drops its key, and a read during which any
   * rejection was counted here is not remembered, so a client being refused is read on every request
   * however many it has in flight; only rejections counted by another instance are seen up to a second
   * late, and only for a client that was under half its budget. Bounded like `buckets`.
   */
  private readonly underLimit = new Map<string, number>();
  /** Rejections counted by this instance (see `underLimit`). */
  private counted = 0;

  constructor(private readonly state: StateStore) {}

  /** Seconds until this client may try again, or 0 when it is under the limit. */
  async retryAfter(clientIp: string | undefined, limit: RateLimit): Promise<number> {
    if (limit.limit === 0) return 0;
    const { key, secondsLeft } = this.window(clientIp, limit);
    const now = Date.now();
    if ((this.underLimit.get(key) ?? 0) > now) return 0;
    const countedBefore = this.counted;
    let rejected: number;
    try {
      rejected = Number((await this.state.get(key)) ?? 0);
    } catch {
      return 0;
    }
    if (rejected >= limit.limit) return secondsLeft;
    if (rejected <= limit.limit / 2 && this.counted === countedBefore) {
      if (this.underLimit.size >= 1000) this.underLimit.clear();
      this.underLimit.set(key, now + UNDER_LIMIT_CACHE_MS);
    }
    return 0;
  }

  async count(clientIp: string | undefined, limit: RateLimit): Promise<void> {
    if (limit.limit === 0) return;
    const { key } = this.window(clientIp, limit);
    this.counted++;
    this.underLimit.delete(key);
    await this.state.increment(key, limit.windowMs).catch(() => undefined);
    // Again once it landed: a read that was in flight meanwhile may have missed it.
    this.counted++;
  }

  private window(clientIp: string | undefined, limit: RateLimit): { key: string; secondsLeft: number } {
    const now = Date.now();
    const window = Math.floor(now / limit.windowMs);
    return {
      key: redisKeys.rateLimit(`bcl-rejections:${this.bucketOf(clientIp)}`, limit.windowMs, window),
      secondsLeft: Math.max(1, Math.ceil(((window + 1) * limit.windowMs - now) / 1000)),
    };
  }

  private bucketOf(clientIp: string | undefined): string {
    const ip = clientIp ?? '';
    let bucket = this.buckets.get(ip);
    if (bucket === undefined) {
      if (this.buckets.size >= 1000) this.buckets.clear();
      bucket = sha256(clientIpBucket(clientIp));
      this.buckets.set(ip, bucket);
    }
    return bucket;
  }
}
