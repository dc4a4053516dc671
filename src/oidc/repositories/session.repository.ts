import { type BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Pool, QueryResultRow } from 'pg';
import { type EntityManager, Repository } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { SessionEntity } from '../entities/session.entity';
import { UserEntity } from '../entities/user.entity';
import { sha256 } from '../crypto/secrets';
import { isUnreachable } from '../errors/dependency-down';
import { oneByOneOnFailure, TurnBatch } from '../util/turn-batch';

export interface NewSession {
  userId: string;
  tokenHash: string;
  issuer: string;
  subject: string;
  oidcSid: string | null;
  expiresAt: Date;
  userAgent: string | null;
  acr: string | null;
  authTime: Date | null;
}

export type RevokeReason =
  | 'logout'
  | 'logout_everywhere'
  | 'user_revoked'
  | 'backchannel_logout'
  | 'frontchannel_logout'
  | 'replaced'
  | 'idle_timeout'
  | 'expired'
  | 'refresh_failed'
  /** The identity the session signed in with was unlinked from its account. */
  | 'identity_unlinked'
  /** Not a revocation: the clean-up of tokens a refresh wrote after its session had ended. */
  | 'refresh_after_revocation';

/** What a verified logout token asks for, and how long its jti must be remembered. */
export interface LogoutTarget {
  issuer: string;
  jtiHash: string;
  sid?: string;
  subject?: string;
  /** The logout token's `iat` (seconds, the OP's clock). */
  issuedAt: number;
  recordUntil: Date;
  /** How long the ended OP session (or subject) is remembered against logins still in flight. */
  rememberEndedUntil: Date;
}

const LIVE = 's.revoked_at IS NULL AND s.expires_at > now()';

/** How long outbox deletions are collected into one statement (well under the outbox job's grace period). */
export const OUTBOX_DELETE_DELAY_MS = 25;

/**
 * Per request: the live sessions for a set of token hashes, with their users (unique-index probes,
 * primary-key joins). The lookups of requests that arrive together share one statement.
 */
const FIND_LIVE_BY_TOKEN_HASHES = `SELECT s.token_hash, s.id, s.user_id, s.issuer, s.subject, s.oidc_sid, s.acr,
       (extract(epoch FROM s.created_at) * 1000)::float8 AS created_ms, (extract(epoch FROM s.last_seen_at) * 1000)::float8 AS last_seen_ms,
       (extract(epoch FROM s.expires_at) * 1000)::float8 AS expires_ms, (extract(epoch FROM s.auth_time) * 1000)::float8 AS auth_ms,
       u.email, u.display_name
  FROM sessions s JOIN users u ON u.id = s.user_id
 WHERE s.token_hash = ANY($1::char(64)[]) AND ${LIVE}`;

type LiveSessionRow = Record<string, unknown>;

/**
 * The back-channel logout statement, for the logout tokens of one turn (one array parameter per field,
 * `n` = position in the arrays): claims each token's jti (a jti repeated in the batch is claimed by its
 * first token only, the others are replays), revokes the live sessions of (issuer, sid) — or of
 * (issuer, subject) without a sid — through the partial indexes, queues them in the token outbox, and
 * remembers the ended OP session (or subject) against logins still in flight. A session two tokens
 * target is revoked once, for the first. Locks are taken in one order (jtis, then sessions by id, then
 * ended OP sessions by key), so that two of these statements (two instances) never wait for each
 * other in a cycle.
 */
export const REVOKE_FOR_LOGOUT_TOKENS = `WITH input AS (
   SELECT t.issuer, t.jti_hash, to_timestamp(t.record_until) AS record_until, t.sid, t.subject, t.kind, t.value_hash, t.issued_at,
          to_timestamp(t.remember_until) AS remember_until, t.n
     FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::float8[], $9::float8[])
     WITH ORDINALITY AS t(issuer, jti_hash, record_until, sid, subject, kind, value_hash, issued_at, remember_until, n)
 ), claim AS (
   INSERT INTO backchannel_logout_jtis (issuer, jti_hash, expires_at)
   SELECT DISTINCT ON (issuer, jti_hash) issuer, jti_hash, record_until FROM input ORDER BY issuer, jti_hash, n
   ON CONFLICT DO NOTHING RETURNING issuer, jti_hash
 ), claimed AS (
   SELECT DISTINCT ON (i.issuer, i.jti_hash) i.* FROM input i JOIN claim c ON c.issuer = i.issuer AND c.jti_hash = i.jti_hash
    ORDER BY i.issuer, i.jti_hash, i.n
 ), targets AS (
   SELECT s.id, c.n FROM claimed c JOIN sessions s ON s.issuer = c.issuer AND s.oidc_sid = c.sid
    WHERE c.sid IS NOT NULL AND s.oidc_sid IS NOT NULL AND s.revoked_at IS NULL
   UNION ALL
   SELECT s.id, c.n FROM claimed c JOIN sessions s ON s.issuer = c.issuer AND s.subject = c.subject
    WHERE c.sid IS NULL AND s.revoked_at IS NULL
 ), locked AS (
   SELECT s.id FROM sessions s WHERE s.id IN (SELECT id FROM targets) AND s.revoked_at IS NULL ORDER BY s.id FOR UPDATE
 ), revoked AS (
   UPDATE sessions s SET revoked_at = now(), revoked_reason = $10
     FROM (SELECT DISTINCT ON (t.id) t.id, t.n FROM targets t JOIN locked l ON l.id = t.id ORDER BY t.id, t.n) t
    WHERE s.id = t.id AND s.revoked_at IS NULL
    RETURNING s.id, t.n
 ), queued AS (
   INSERT INTO session_token_outbox (session_id, reason) SELECT id, $10 FROM revoked ON CONFLICT DO NOTHING
 ), ended AS (
   INSERT INTO backchannel_ended_op_sessions (issuer, kind, value_hash, logged_out_at, expires_at)
   SELECT issuer, kind, value_hash, to_timestamp(max(issued_at)), max(remember_until) FROM claimed
    GROUP BY issuer, kind, value_hash ORDER BY issuer, kind, value_hash
   ON CONFLICT (issuer, kind, value_hash) DO UPDATE
     SET logged_out_at = GREATEST(backchannel_ended_op_sessions.logged_out_at, EXCLUDED.logged_out_at),
         expires_at = GREATEST(backchannel_ended_op_sessions.expires_at, EXCLUDED.expires_at)
 )
 SELECT i.n::int AS n, c.n IS NOT NULL AS claimed, ARRAY(SELECT r.id::text FROM revoked r WHERE r.n = i.n) AS revoked
   FROM input i LEFT JOIN claimed c ON c.n = i.n`;

/** What one logout token's revocation did: whether it claimed its jti (false: a replay), the sessions it revoked. */
export interface LogoutRevocation {
  claimed: boolean;
  revoked: string[];
}

/**
 * Whether a back-channel logout ended a login's OP session (primary-key lookups): its sid was logged
 * out (an ended OP session never comes back), or its subject was, by a logout token issued at or after
 * the ID token (both `iat`s are the OP's clock). Parameters: issuer, sha256(sub), sha256(sid) or '',
 * the ID token's iat.
 */
const ENDED_OP_SESSION = (issuer: string, subHash: string, sidHash: string, idTokenIat: string) => `EXISTS (
  SELECT 1 FROM backchannel_ended_op_sessions e
   WHERE e.issuer = ${issuer} AND e.expires_at > now()
     AND ((e.kind = 'sub' AND e.value_hash = ${subHash} AND e.logged_out_at >= to_timestamp(${idTokenIat}))
       OR (e.kind = 'sid' AND e.value_hash = ${sidHash})))`;

/**
 * Named queries on `sessions` (and the two tables written with it: seen logout-token ids, token outbox). Every lookup here is served by an index (see the migration):
 * token_hash (unique), live (issuer, oidc_sid), live (issuer, subject), user_id.
 */
@Injectable()
export class SessionRepository implements BeforeApplicationShutdown {
  /**
   * Every request with a session token looks it up: the lookups made in one turn of the event loop
   * (requests that arrived together) go to Postgres as one statement at its end, so a busy instance
   * pays one round trip for several requests. A lone request waits only for the end of its own turn.
   */
  private readonly lookups = new TurnBatch<string, LiveSessionRow>(async (hashes) => {
    const rows = await this.prepared<LiveSessionRow>('oidc_sessions_by_token_hashes', FIND_LIVE_BY_TOKEN_HASHES, [hashes]);
    return new Map(rows.map((row) => [row.token_hash as string, row]));
  });

  /**
   * Outbox entries of retired sessions, deleted by one statement every `OUTBOX_DELETE_DELAY_MS` (and at
   * shutdown): nobody waits for them (see `tokensDropped`), and under load one statement serves dozens
   * of back-channel logouts instead of one a turn.
   */
  private readonly outboxDeletes = this.perTurn('oidc_outbox_delete', `DELETE FROM session_token_outbox WHERE session_id = ANY($1::uuid[])`, OUTBOX_DELETE_DELAY_MS);

  /**
   * Activity (`last_seen_at`, at most once a minute a session) likewise one statement a turn: every
   * session in use comes due once a minute, and one by one that is a burst of single-row updates.
   */
  private readonly touches = this.perTurn(
    'oidc_sessions_touch',
    // Rows another transaction holds (a revocation, an unlink) are skipped, not waited for: no request
    // of the batch stalls behind them, and no deadlock with a multi-row revocation. A skipped session
    // is recorded on its next request.
    `UPDATE sessions SET last_seen_at = now()
      WHERE id IN (SELECT id FROM sessions WHERE id = ANY($1::uuid[]) AND last_seen_at < now() - interval '60 seconds' FOR UPDATE SKIP LOCKED)`,
  );

  /**
   * Back-channel logouts likewise: the tokens verified in one turn are revoked by one statement (at most
   * 100 a statement; a lone token by the same statement). A batch that fails for another reason than
   * Postgres being out of reach (a value it refuses, a statement timeout behind one token's locks or
   * sessions, a deadlock) is retried token by token, so that one token's failure is that token's
   * answer only.
   */
  private readonly logoutRevocations = new TurnBatch<LogoutTarget, LogoutRevocation | Error>(async (targets) => {
    if (targets.length > 1) this.logger.debug({ msg: 'bcl.revocation_batch', size: targets.length });
    return oneByOneOnFailure(targets, (batch) => this.revokeBatch(batch), isUnreachable);
  }, 100);

  private readonly logger = new Logger('BackchannelLogout');

  constructor(@InjectRepository(SessionEntity) private readonly repo: Repository<SessionEntity>) {}

  /** A statement on a set of session ids (`$1::uuid[]`), run once a turn (or `delayMs`) for the ids asked for in it (up to 500). */
  private perTurn(name: string, text: string, delayMs = 0): TurnBatch<string, true> {
    return new TurnBatch<string, true>(
      async (sessionIds) => {
        await this.prepared(name, text, [sessionIds]);
        return new Map(sessionIds.map((id) => [id, true as const]));
      },
      500,
      delayMs,
    );
  }

  /** The outbox entries collected for deletion go before Postgres is disconnected. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.outboxDeletes.drain();
  }

  /**
   * The statements on the per-request paths (session lookup, back-channel logout) run as named
   * prepared statements on TypeORM's own pg pool: Postgres parses and plans each once per connection,
   * the client sends only Bind/Execute, and the rows come back as plain objects (no TypeORM query
   * runner, no entity hydration). Same connection pool, same timeouts, same error objects as `query()`.
   */
  private async prepared<T extends QueryResultRow>(name: string, text: string, values: unknown[]): Promise<T[]> {
    const pool = (this.repo.manager.connection.driver as PostgresDriver).master as Pool;
    return (await pool.query<T>({ name, text, values })).rows;
  }

  async create(session: NewSession, manager?: EntityManager): Promise<SessionEntity> {
    const repo = manager ? manager.getRepository(SessionEntity) : this.repo;
    return repo.save(repo.create({ ...session, lastSeenAt: new Date(), revokedAt: null, revokedReason: null }));
  }

  /** The live session for a token hash, with its user. One unique-index probe plus a primary-key join. */
  async findLiveByTokenHash(tokenHash: string): Promise<{ session: SessionEntity; user: UserEntity } | undefined> {
    const row = await this.lookups.get(tokenHash);
    if (!row) return undefined;
    const session = Object.assign(new SessionEntity(), {
      id: row.id as string,
      userId: row.user_id as string,
      tokenHash,
      issuer: row.issuer as string,
      subject: row.subject as string,
      oidcSid: (row.oidc_sid as string | null) ?? null,
      createdAt: new Date(row.created_ms as number),
      lastSeenAt: new Date(row.last_seen_ms as number),
      expiresAt: new Date(row.expires_ms as number),
      acr: (row.acr as string | null) ?? null,
      authTime: row.auth_ms === null ? null : new Date(row.auth_ms as number),
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

  /** How many sessions are live (an index-only count on sessions_live_expiry_idx). */
  async countLive(): Promise<number> {
    const rows: Array<{ n: number }> = await this.repo.query(`SELECT count(*)::int AS n FROM sessions s WHERE ${LIVE}`);
    return rows[0].n;
  }

  /** The issuer of a session (live or not), '' when the row is gone: which provider its tokens belong to. */
  async issuerOf(sessionId: string): Promise<string> {
    const rows: Array<{ issuer: string }> = await this.repo.query(`SELECT issuer FROM sessions WHERE id = $1`, [sessionId]);
    return rows[0]?.issuer ?? '';
  }

  async isLive(sessionId: string): Promise<boolean> {
    const rows: unknown[] = await this.repo.query(`SELECT 1 FROM sessions s WHERE s.id = $1 AND ${LIVE}`, [sessionId]);
    return rows.length > 0;
  }

  /** Records activity; the condition keeps concurrent requests from writing more than once a minute. */
  async touch(sessionId: string): Promise<void> {
    await this.touches.get(sessionId);
  }

  /** The user's live sessions (sessions_user_idx), idle ones (past `idleTimeoutMs`, 0 = off) left out. */
  async listLiveByUser(userId: string, idleTimeoutMs: number): Promise<SessionEntity[]> {
    const query = this.repo.createQueryBuilder('s').where('s.user_id = :userId', { userId }).andWhere(LIVE);
    if (idleTimeoutMs > 0) query.andWhere(`s.last_seen_at > now() - :idle * interval '1 millisecond'`, { idle: idleTimeoutMs });
    return query.orderBy('s.created_at', 'DESC').getMany();
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
   * Front-channel logout with the session cookie: this browser's live session (unique token_hash
   * probe), only when it belongs to the OP session (issuer, sid).
   */
  async revokeByTokenHashInOpSession(tokenHash: string, issuer: string, sid: string, reason: RevokeReason): Promise<string[]> {
    return this.revokeWhere('token_hash = $1 AND issuer = $2 AND oidc_sid = $3', [tokenHash, issuer, sid], reason);
  }

  /** The live sessions of one OP session (issuer, sid), through sessions_live_sid_idx. */
  async revokeBySid(issuer: string, sid: string, reason: RevokeReason): Promise<string[]> {
    return this.revokeWhere('issuer = $1 AND oidc_sid = $2 AND oidc_sid IS NOT NULL', [issuer, sid], reason);
  }

  /**
   * Revokes the user's live sessions that signed in through this identity (issuer + subject, through
   * sessions_live_subject_idx), inside the caller's transaction: an unlink and the end of the
   * sessions it made are one commit.
   */
  async revokeSignedInWith(userId: string, issuer: string, subject: string, reason: RevokeReason, manager: EntityManager): Promise<string[]> {
    return this.revokeWhere('issuer = $1 AND subject = $2 AND user_id = $3', [issuer, subject, userId], reason, manager);
  }

  /**
   * Whether this session is live and this user's, locking its row against revocation until the end of
   * the caller's transaction (`FOR SHARE`): what a link checks before it writes.
   */
  async isLiveOfUser(sessionId: string, userId: string, manager: EntityManager): Promise<boolean> {
    const rows: unknown[] = await manager.query(`SELECT 1 FROM sessions s WHERE s.id = $1 AND s.user_id = $2 AND ${LIVE} FOR SHARE`, [sessionId, userId]);
    return rows.length > 0;
  }

  /**
   * Back-channel logout in ONE statement (shared with the other tokens of the turn), so that it is
   * applied exactly once whatever fails: see `REVOKE_FOR_LOGOUT_TOKENS`. A replayed jti claims nothing
   * and revokes nothing. If the statement fails, nothing is recorded and the OP's retry works.
   */
  async revokeForLogoutToken(target: LogoutTarget): Promise<LogoutRevocation> {
    const outcome = await this.logoutRevocations.get(target);
    if (outcome instanceof Error) throw outcome;
    return outcome!;
  }

  private async revokeBatch(targets: LogoutTarget[]): Promise<Map<LogoutTarget, LogoutRevocation>> {
    const rows = await this.prepared<LogoutRevocation & { n: number }>('oidc_backchannel_revoke_batch', REVOKE_FOR_LOGOUT_TOKENS, [
      targets.map((t) => t.issuer),
      targets.map((t) => t.jtiHash),
      // Times as epoch seconds (to_timestamp in the statement): pg's Date formatting was a visible share of the statement's cost.
      targets.map((t) => t.recordUntil.getTime() / 1000),
      targets.map((t) => t.sid ?? null),
      targets.map((t) => (t.sid ? null : t.subject)),
      targets.map((t) => (t.sid ? 'sid' : 'sub')),
      targets.map((t) => sha256((t.sid ?? t.subject) as string)),
      targets.map((t) => t.issuedAt),
      targets.map((t) => t.rememberEndedUntil.getTime() / 1000),
      'backchannel_logout' satisfies RevokeReason,
    ]);
    return new Map(rows.map((row) => [targets[row.n - 1], { claimed: row.claimed, revoked: row.revoked }]));
  }

  /**
   * Whether a back-channel logout ended this login's OP session: its sid was logged out (an ended OP
   * session never comes back), or its subject was logged out by a token issued at or after the ID
   * token (both times are the OP's clock).
   */
  async opSessionEnded(issuer: string, subject: string, sid: string | null, idTokenIssuedAt: number): Promise<boolean> {
    const rows: Array<{ ended: boolean }> = await this.repo.query(`SELECT ${ENDED_OP_SESSION('$1', '$2', '$3', '$4')} AS ended`, [
      issuer,
      sha256(subject),
      sid ? sha256(sid) : '',
      idTokenIssuedAt,
    ]);
    return rows[0].ended;
  }

  /**
   * Right after a login wrote its session and cached its tokens: is the session still live, did a
   * back-channel logout end its OP session meanwhile (`ended`), and is the identity it signed in with
   * still linked to its user (`unlinked` when an unlink committed while the login was in flight: the
   * unlink's revocation cannot have seen this session)? One indexed query.
   */
  async loginStillValid(sessionId: string, login: { issuer: string; subject: string; sid: string | null; issuedAt: number }): Promise<'ok' | 'ended' | 'unlinked'> {
    const rows: Array<{ ok: boolean; linked: boolean }> = await this.repo.query(
      `SELECT (s.revoked_at IS NULL) AND NOT ${ENDED_OP_SESSION('$2', '$3', '$4', '$5')} AS ok,
              EXISTS (SELECT 1 FROM user_identities i WHERE i.issuer = s.issuer AND i.subject = s.subject AND i.user_id = s.user_id) AS linked
         FROM sessions s WHERE s.id = $1`,
      [sessionId, login.issuer, sha256(login.subject), login.sid ? sha256(login.sid) : '', login.issuedAt],
    );
    if (!rows[0]) return 'ended';
    // An unlink revokes the sessions it sees: unlinked first, whether or not it saw this one.
    if (!rows[0].linked) return 'unlinked';
    return rows[0].ok ? 'ok' : 'ended';
  }

  /**
   * Revoked sessions whose cached tokens are still to be dropped (oldest first), queued at least
   * `graceMs` ago: younger ones belong to the request that revoked them, which is still at work.
   */
  async pendingTokenDrops(limit: number, graceMs: number): Promise<Array<{ sessionId: string; reason: RevokeReason; createdAt: Date }>> {
    const rows: Array<{ session_id: string; reason: RevokeReason; created_at: Date }> = await this.repo.query(
      `SELECT session_id, reason, created_at FROM session_token_outbox
        WHERE created_at < now() - $2::bigint * interval '1 millisecond'
        ORDER BY created_at LIMIT $1`,
      [limit, graceMs],
    );
    return rows.map((r) => ({ sessionId: r.session_id, reason: r.reason, createdAt: r.created_at }));
  }

  /**
   * The cached tokens of these sessions were dropped: their outbox entries are deleted within
   * `OUTBOX_DELETE_DELAY_MS`. An entry whose deletion fails (or is cut short by a crash) is harmless:
   * the outbox job finds nothing left to drop and deletes it then.
   */
  async tokensDropped(sessionIds: string[]): Promise<void> {
    await Promise.all(sessionIds.map((id) => this.outboxDeletes.get(id)));
  }

  /** Marks live sessions past their expiry as `expired` (from sessions_live_expiry_idx); returns how many. */
  async markExpired(limit: number, manager: EntityManager): Promise<number> {
    const rows: Array<{ n: number }> = await manager.query(
      `WITH expired AS (
         UPDATE sessions SET revoked_at = expires_at, revoked_reason = 'expired'
          WHERE id IN (SELECT id FROM sessions WHERE revoked_at IS NULL AND expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
          RETURNING id
       ), queued AS (
         INSERT INTO session_token_outbox (session_id, reason) SELECT id, 'expired' FROM expired ON CONFLICT DO NOTHING
       )
       SELECT count(*)::int AS n FROM expired`,
      [limit],
    );
    return rows[0].n;
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

  /** Forgets ended OP sessions once no login begun before the logout can still complete. */
  async deleteExpiredEndedOpSessions(limit: number, manager: EntityManager): Promise<number> {
    const [, count] = (await manager.query(
      `DELETE FROM backchannel_ended_op_sessions
        WHERE (issuer, kind, value_hash) IN (
          SELECT issuer, kind, value_hash FROM backchannel_ended_op_sessions WHERE expires_at < now() LIMIT $1 FOR UPDATE SKIP LOCKED)`,
      [limit],
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
  private async revokeWhere(condition: string, params: unknown[], reason: RevokeReason, manager?: EntityManager): Promise<string[]> {
    const reasonParam = `$${params.length + 1}`;
    const rows: Array<{ id: string }> = await (manager ?? this.repo.manager).query(
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
