import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type EntityManager, Repository } from 'typeorm';
import { SessionEntity } from '../entities/session.entity';
import { UserEntity } from '../entities/user.entity';

export interface NewSession {
  userId: string;
  tokenHash: string;
  issuer: string;
  subject: string;
  oidcSid: string | null;
  expiresAt: Date;
}

export type RevokeReason =
  | 'logout'
  | 'logout_everywhere'
  | 'user_revoked'
  | 'backchannel_logout'
  | 'replaced'
  | 'idle_timeout'
  | 'expired'
  | 'refresh_failed';

/** What a verified logout token asks for, and how long its jti must be remembered. */
export interface LogoutTarget {
  issuer: string;
  jtiHash: string;
  sid?: string;
  subject?: string;
  recordUntil: Date;
}

const LIVE = 's.revoked_at IS NULL AND s.expires_at > now()';

/**
 * Named queries on `sessions` (and the two tables written with it: seen logout-token ids, token outbox). Every lookup here is served by an index (see the migration):
 * token_hash (unique), live (issuer, oidc_sid), live (issuer, subject), user_id.
 */
@Injectable()
export class SessionRepository {
  constructor(@InjectRepository(SessionEntity) private readonly repo: Repository<SessionEntity>) {}

  async create(session: NewSession, manager?: EntityManager): Promise<SessionEntity> {
    const repo = manager ? manager.getRepository(SessionEntity) : this.repo;
    return repo.save(repo.create({ ...session, lastSeenAt: new Date(), revokedAt: null, revokedReason: null }));
  }

  /** The live session for a token hash, with its user. One unique-index probe plus a primary-key join. */
  async findLiveByTokenHash(tokenHash: string): Promise<{ session: SessionEntity; user: UserEntity } | undefined> {
    const rows: Array<Record<string, unknown>> = await this.repo.query(
      `SELECT s.id, s.user_id, s.issuer, s.subject, s.oidc_sid, s.created_at, s.last_seen_at, s.expires_at,
              u.email, u.display_name
         FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.token_hash = $1 AND ${LIVE}`,
      [tokenHash],
    );
    const row = rows[0];
    if (!row) return undefined;
    const session = this.repo.create({
      id: row.id as string,
      userId: row.user_id as string,
      tokenHash,
      issuer: row.issuer as string,
      subject: row.subject as string,
      oidcSid: (row.oidc_sid as string | null) ?? null,
      createdAt: row.created_at as Date,
      lastSeenAt: row.last_seen_at as Date,
      expiresAt: row.expires_at as Date,
      revokedAt: null,
      revokedReason: null,
    });
    const user = Object.assign(new UserEntity(), {
      id: row.user_id as string,
      email: row.email as string | null,
      displayName: row.display_name as string | null,
    });
    return { session, user };
  }

  async isLive(sessionId: string): Promise<boolean> {
    const rows: unknown[] = await this.repo.query(`SELECT 1 FROM sessions s WHERE s.id = $1 AND ${LIVE}`, [sessionId]);
    return rows.length > 0;
  }

  /** Records activity; the condition keeps concurrent requests from writing more than once a minute. */
  async touch(sessionId: string): Promise<void> {
    await this.repo.query(
      `UPDATE sessions SET last_seen_at = now() WHERE id = $1 AND last_seen_at < now() - interval '60 seconds'`,
      [sessionId],
    );
  }

  async listLiveByUser(userId: string): Promise<SessionEntity[]> {
    return this.repo
      .createQueryBuilder('s')
      .where('s.user_id = :userId', { userId })
      .andWhere(LIVE)
      .orderBy('s.created_at', 'DESC')
      .getMany();
  }

  /** Revokes one live session of this user; returns the revoked ids (empty when none matched). */
  async revokeOwn(userId: string, sessionId: string, reason: RevokeReason): Promise<string[]> {
    return this.revokeWhere('id = $1 AND user_id = $2', [sessionId, userId], reason);
  }

  /** Revokes a live session by its token hash (a session replaced by a new login in the same browser). */
  async revokeByTokenHash(tokenHash: string, reason: RevokeReason): Promise<string[]> {
    return this.revokeWhere('token_hash = $1', [tokenHash], reason);
  }

  async revokeById(sessionId: string, reason: RevokeReason): Promise<string[]> {
    return this.revokeWhere('id = $1', [sessionId], reason);
  }

  async revokeAllOfUser(userId: string, reason: RevokeReason): Promise<string[]> {
    return this.revokeWhere('user_id = $1', [userId], reason);
  }

  /**
   * Back-channel logout in ONE statement, so that it is applied exactly once whatever fails: claims the
   * logout token's jti, revokes the live sessions of (issuer, sid) — or of (issuer, subject) without a
   * sid — through the partial indexes, and queues them in the token outbox. A replayed jti claims
   * nothing and revokes nothing. If the statement fails, nothing is recorded and the OP's retry works.
   */
  async revokeForLogoutToken(target: LogoutTarget): Promise<{ claimed: boolean; revoked: string[] }> {
    const condition = target.sid
      ? 'issuer = $1 AND oidc_sid = $4 AND oidc_sid IS NOT NULL'
      : 'issuer = $1 AND subject = $4';
    const rows: Array<{ claimed: boolean; revoked: string[] }> = await this.repo.query(
      `WITH claim AS (
         INSERT INTO backchannel_logout_jtis (issuer, jti_hash, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING RETURNING 1
       ), revoked AS (
         UPDATE sessions SET revoked_at = now(), revoked_reason = $5
          WHERE ${condition} AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM claim)
          RETURNING id
       ), queued AS (
         INSERT INTO session_token_outbox (session_id, reason) SELECT id, $5 FROM revoked ON CONFLICT DO NOTHING
       )
       SELECT EXISTS (SELECT 1 FROM claim) AS claimed, ARRAY(SELECT id::text FROM revoked) AS revoked`,
      [target.issuer, target.jtiHash, target.recordUntil, target.sid ?? target.subject, 'backchannel_logout' satisfies RevokeReason],
    );
    return rows[0];
  }

  /** Revoked sessions whose cached tokens are still to be dropped (oldest first). */
  async pendingTokenDrops(limit: number): Promise<Array<{ sessionId: string; reason: RevokeReason }>> {
    const rows: Array<{ session_id: string; reason: RevokeReason }> = await this.repo.query(
      `SELECT session_id, reason FROM session_token_outbox ORDER BY created_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ sessionId: r.session_id, reason: r.reason }));
  }

  /** The cached tokens of these sessions were dropped. */
  async tokensDropped(sessionIds: string[]): Promise<void> {
    if (sessionIds.length === 0) return;
    await this.repo.query(`DELETE FROM session_token_outbox WHERE session_id = ANY($1::uuid[])`, [sessionIds]);
  }

  /** Marks live sessions past their expiry as `expired` (from sessions_live_expiry_idx); returns how many. */
  async markExpired(limit: number, manager: EntityManager): Promise<number> {
    const [, count] = (await manager.query(
      `UPDATE sessions SET revoked_at = expires_at, revoked_reason = 'expired'
        WHERE id IN (SELECT id FROM sessions WHERE revoked_at IS NULL AND expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        `,
      [limit],
    )) as [unknown[], number];
    return count;
  }

  /** Deletes sessions that ended (revoked or expired) before `cutoff` (from sessions_revoked_at_idx). */
  async deleteEndedBefore(cutoff: Date, limit: number, manager: EntityManager): Promise<number> {
    const [, count] = (await manager.query(
      `DELETE FROM sessions
        WHERE id IN (SELECT id FROM sessions WHERE revoked_at IS NOT NULL AND revoked_at < $1 ORDER BY revoked_at LIMIT $2 FOR UPDATE SKIP LOCKED)
        `,
      [cutoff, limit],
    )) as [unknown[], number];
    return count;
  }

  /** Forgets logout-token ids whose replay window is over. */
  async deleteExpiredLogoutJtis(limit: number, manager: EntityManager): Promise<number> {
    const [, count] = (await manager.query(
      `DELETE FROM backchannel_logout_jtis
        WHERE (issuer, jti_hash) IN (SELECT issuer, jti_hash FROM backchannel_logout_jtis WHERE expires_at < now() LIMIT $1 FOR UPDATE SKIP LOCKED)
        `,
      [limit],
    )) as [unknown[], number];
    return count;
  }

  /**
   * Revokes and queues in the token outbox in one statement: the revocation and the promise to drop
   * the session's cached tokens are written together, so a state-store outage loses nothing.
   */
  private async revokeWhere(condition: string, params: unknown[], reason: RevokeReason): Promise<string[]> {
    const reasonParam = `$${params.length + 1}`;
    const rows: Array<{ id: string }> = await this.repo.query(
      `WITH revoked AS (
         UPDATE sessions SET revoked_at = now(), revoked_reason = ${reasonParam}
          WHERE ${condition} AND revoked_at IS NULL
          RETURNING id
       ), queued AS (
         INSERT INTO session_token_outbox (session_id, reason) SELECT id, ${reasonParam} FROM revoked ON CONFLICT DO NOTHING
       )
       SELECT id FROM revoked`,
      [...params, reason],
    );
    return rows.map((r) => r.id);
  }
}
