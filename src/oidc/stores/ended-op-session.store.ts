import { Injectable } from '@nestjs/common';
import { sha256 } from '../crypto/secrets';
import { redisKeys } from './redis-keys';
import { StateStore } from './state-store';

/**
 * OP sessions that a back-channel logout ended, remembered for as long as a login begun before it can
 * still complete (a pending bind), so that such a login cannot create a session for an ended OP session.
 */
@Injectable()
export class EndedOpSessionStore {
  constructor(private readonly state: StateStore) {}

  async markSid(issuer: string, sid: string, ttlMs: number): Promise<void> {
    await this.state.set(redisKeys.endedSid(sha256(issuer).slice(0, 16), sha256(sid)), String(Date.now()), ttlMs);
  }

  async markSubject(issuer: string, subject: string, ttlMs: number): Promise<void> {
    await this.state.set(redisKeys.endedSubject(sha256(issuer).slice(0, 16), sha256(subject)), String(Date.now()), ttlMs);
  }

  /** True when the OP session of a login made at `loginAt` was ended by a back-channel logout since. */
  async endedSince(issuer: string, subject: string, sid: string | null, loginAt: number): Promise<boolean> {
    const issuerHash = sha256(issuer).slice(0, 16);
    const keys = [redisKeys.endedSubject(issuerHash, sha256(subject))];
    if (sid) keys.push(redisKeys.endedSid(issuerHash, sha256(sid)));
    const values = await this.state.mget(keys);
    return values.some((v) => v !== undefined && Number(v) >= loginAt);
  }
}
