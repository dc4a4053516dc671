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

export type RevokeReason = 'logout' | 'logout_everywhere' | 'user_revoked' | 'backchannel_logout';

const LIVE = 's.revoked_at IS NULL AND s.expires_at > now()';

/**
 * Named queries on `sessions`. Every lookup here is served by an index (see the migration):
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

  async revokeAllOfUser(userId: string, reason: RevokeReason): Promise<string[]> {
    return this.revokeWhere('user_id = $1', [userId], reason);
  }

  /** Live session ids of an OP session (sessions_live_sid_idx). */
  async findLiveIdsBySid(issuer: string, sid: string): Promise<string[]> {
    return this.idsWhere('issuer = $1 AND oidc_sid = $2 AND oidc_sid IS NOT NULL', [issuer, sid]);
  }

  /** Live session ids of a subject (sessions_live_subject_idx). */
  async findLiveIdsBySubject(issuer: string, subject: string): Promise<string[]> {
    return this.idsWhere('issuer = $1 AND subject = $2', [issuer, subject]);
  }

  /** Back-channel logout with a sid: only the sessions of that OP session. Uses sessions_live_sid_idx. */
  async revokeBySid(issuer: string, sid: string, reason: RevokeReason): Promise<string[]> {
    return this.revokeWhere('issuer = $1 AND oidc_sid = $2 AND oidc_sid IS NOT NULL', [issuer, sid], reason);
  }

  /** Back-channel logout without a sid: every session of the subject. Uses sessions_live_subject_idx. */
  async revokeBySubject(issuer: string, subject: string, reason: RevokeReason): Promise<string[]> {
    return this.revokeWhere('issuer = $1 AND subject = $2', [issuer, subject], reason);
  }

  private async idsWhere(condition: string, params: unknown[]): Promise<string[]> {
    const rows: Array<{ id: string }> = await this.repo.query(`SELECT id FROM sessions WHERE ${condition} AND revoked_at IS NULL`, params);
    return rows.map((r) => r.id);
  }

  private async revokeWhere(condition: string, params: unknown[], reason: RevokeReason): Promise<string[]> {
    const reasonParam = `$${params.length + 1}`;
    const [rows] = (await this.repo.query(
      `UPDATE sessions SET revoked_at = now(), revoked_reason = ${reasonParam}
        WHERE ${condition} AND revoked_at IS NULL
        RETURNING id`,
      [...params, reason],
    )) as [Array<{ id: string }>, number];
    return rows.map((r) => r.id);
  }
}
