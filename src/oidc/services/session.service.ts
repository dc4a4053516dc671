import { Inject, Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { logTag, randomToken, sha256 } from '../crypto/secrets';
import type { SessionEntity } from '../entities/session.entity';
import type { UserEntity } from '../entities/user.entity';
import { isDependencyDown } from '../errors/dependency-down';
import { OidcError } from '../errors/oidc-error';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { type RevokeReason, SessionRepository } from '../repositories/session.repository';
import { OidcAudit } from '../observability/audit.service';
import type { RequestContext } from '../observability/request-context';
import { vaultOwner } from '../stores/redis-keys';
import { accessTokenEntry, TokenVaultStore, type VaultEntry, type VaultRead } from '../stores/token-vault.store';
import { oneByOneOnFailure, toError, TurnBatch } from '../util/turn-batch';
import { IdpClientService, type TokenSet } from './idp-client.service';

export interface OidcLogin {
  issuer: string;
  subject: string;
  sid: string | null;
  /** `acr` and `auth_time` (seconds) of the ID token, when the OP sent them. */
  acr?: string | null;
  authTime?: number | null;
  /** The signing-in browser's User-Agent header, when it sent one (kept on the session for its owner's list). */
  userAgent?: string | null;
}

const MAX_USER_AGENT_LENGTH = 512;

/** A User-Agent as stored: printable characters only, at most 512 of them; null when absent or empty. */
export function storableUserAgent(header: string | string[] | undefined | null): string | null {
  const value = (Array.isArray(header) ? header[0] : header)?.replace(/[^\x20-\x7e]/g, '').trim();
  return value ? value.slice(0, MAX_USER_AGENT_LENGTH) : null;
}

/** The tokens of a login, as the code exchange returned them. */
export interface LoginTokens extends TokenSet {
  idToken: string | null;
}

export interface IssuedSession {
  /** The opaque credential; shown once to the client, only its hash is stored. */
  token: string;
  session: SessionEntity;
}

export interface AuthenticatedSession {
  session: SessionEntity;
  user: UserEntity;
}

const TOUCH_INTERVAL_MS = 60_000;
/** How long a request that revoked sessions waits for their refresh tokens to be revoked at the OP. */
const RETIRE_WAIT_MS = 2_000;
/** How long the vault sweep of a burst of retirements waits for those still on their way (see `expectRetirement`). */
const SWEEP_HOLD_MS = 5;
/** Session tokens are 256-bit base64url values: 43 characters. */
export const SESSION_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** Issues, resolves and revokes sessions; keeps the token vault in step with them. */
@Injectable()
export class SessionService {
  private readonly logger = new Logger('Session');

  /**
   * The first step of every retirement, for the sessions retired together: their id and access tokens
   * are deleted and their refresh tokens read (to be revoked at the OP before they go), two commands in
   * one round trip for all of them. While back-channel logouts that verified their token are on their
   * way here, the sweep waits for them, at most `SWEEP_HOLD_MS`: a burst shares one sweep. If the
   * sweep fails for another reason than the store being down or slow (on a Redis Cluster, one shard's
   * failover fails the commands that touch it), each session is swept on its own, so that only those
   * the failure concerns wait in the outbox.
   */
  private readonly sweeps = new TurnBatch<string, VaultRead | Error>(
    async (sessionIds) => {
      if (sessionIds.length > 1) this.logger.debug({ msg: 'session.sweep_batch', size: sessionIds.length });
      // A store down or too slow fails each session as well: their own retries would only double the wait.
      return oneByOneOnFailure(sessionIds, (ids) => this.sweep(ids), isDependencyDown);
    },
    500,
    0,
    SWEEP_HOLD_MS,
  );

  constructor(
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    private readonly sessions: SessionRepository,
    private readonly vault: TokenVaultStore,
    private readonly idp: IdpClientService,
    private readonly audit: OidcAudit,
  ) {}

  /** Creates the session row (inside the caller's transaction when given). Tokens are cached separately, after commit. */
  async create(userId: string, login: OidcLogin, manager?: EntityManager): Promise<IssuedSession> {
    const token = randomToken();
    const session = await this.sessions.create(
      {
        userId,
        tokenHash: sha256(token),
        issuer: login.issuer,
        subject: login.subject,
        oidcSid: login.sid,
        userAgent: storableUserAgent(login.userAgent),
        acr: login.acr ?? null,
        authTime: typeof login.authTime === 'number' ? new Date(login.authTime * 1000) : null,
        expiresAt: new Date(Date.now() + this.options.sessionTtlMs),
      },
      manager,
    );
    this.logger.log({ msg: 'session.created', sessionId: session.id, userId, subTag: logTag(login.subject), sidTag: logTag(login.sid) });
    return { token, session };
  }

  /** Caches the session's tokens, encrypted, keyed by this session, never past its expiry. */
  async cacheTokens(session: SessionEntity, tokens: LoginTokens): Promise<void> {
    await this.vault.putAll(vaultOwner.session(session.id), await this.vaultEntries(tokens, session.issuer), session.expiresAt);
  }

  /**
   * What a login's tokens become in the vault: the access token until it expires (for APIs), the
   * refresh token (to refresh it, and to revoke it at logout), the id_token only when RP-Initiated
   * Logout can use it.
   */
  async vaultEntries(tokens: LoginTokens, issuer: string): Promise<VaultEntry[]> {
    const entries: VaultEntry[] = [];
    if (tokens.accessToken) entries.push(accessTokenEntry(tokens.accessToken, tokens.accessTokenExpiresAt));
    if (tokens.refreshToken) entries.push({ kind: 'refresh_token', token: tokens.refreshToken, ttlMs: this.options.sessionTtlMs });
    if (tokens.idToken && (await this.keepsIdToken(issuer))) entries.push({ kind: 'id_token', token: tokens.idToken, ttlMs: this.options.idTokenTtlMs });
    return entries;
  }

  /** Whether a login of this issuer caches the id_token: only when its provider's RP-Initiated Logout is on and usable. */
  async keepsIdToken(issuer: string): Promise<boolean> {
    const provider = this.idp.forIssuer(issuer);
    return provider ? (await provider.endSessionSupport()).enabled : false;
  }

  /** Resolves a presented session token; `undefined` for unknown, revoked, expired or idle sessions. */
  async authenticate(token: string, caller?: RequestContext): Promise<AuthenticatedSession | undefined> {
    if (!SESSION_TOKEN_SHAPE.test(token)) return undefined;
    const found = await this.sessions.findLiveByTokenHash(sha256(token));
    if (!found) return undefined;
    const idle = this.options.sessionIdleTimeoutMs;
    // last_seen_at is at most a minute behind (see below), so the idle timeout is exact to a minute.
    if (idle > 0 && Date.now() - found.session.lastSeenAt.getTime() > idle) {
      await this.retire(await this.sessions.revokeById(found.session.id, 'idle_timeout'), 'idle_timeout', caller);
      return undefined;
    }
    // Activity is recorded at most once a minute: most requests cost one indexed read and no write.
    // Best effort: a failed activity write (shared by the requests of one turn) fails none of them.
    if (Date.now() - found.session.lastSeenAt.getTime() > TOUCH_INTERVAL_MS) {
      await this.sessions.touch(found.session.id).catch((error: unknown) => {
        this.logger.warn({ msg: 'session.touch_failed', sessionId: found.session.id, name: (error as Error)?.name, errorCode: (error as { code?: string })?.code });
      });
    }
    return found;
  }

  async listLive(userId: string): Promise<SessionEntity[]> {
    return this.sessions.listLiveByUser(userId, this.options.sessionIdleTimeoutMs);
  }

  /** Revokes one of the caller's own sessions. */
  async revokeOwn(userId: string, sessionId: string, caller?: RequestContext): Promise<void> {
    const revoked = await this.sessions.revokeOwn(userId, sessionId, 'user_revoked');
    if (revoked.length === 0) throw new OidcError('session_not_found', 'No live session with this id belongs to you');
    await this.retire(revoked, 'user_revoked', caller);
  }

  /**
   * A new login in a browser that still presents a live session retires that session (`replaced`):
   * one browser, one session. Best effort: the new login stands whatever happens here.
   */
  async retireReplaced(presentedToken: string | undefined, newSessionId: string, caller?: RequestContext): Promise<void> {
    if (!presentedToken || !SESSION_TOKEN_SHAPE.test(presentedToken)) return;
    try {
      const revoked = (await this.sessions.revokeByTokenHash(sha256(presentedToken), 'replaced')).filter((id) => id !== newSessionId);
      await this.retire(revoked, 'replaced', caller);
    } catch (error) {
      this.logger.error({ msg: 'session.replace_failed', sessionId: newSessionId, name: (error as Error)?.name });
    }
  }

  /**
   * Announces a request that will probably retire sessions soon (a back-channel logout whose token
   * verified, being revoked): the vault sweep of the retirements under way waits for it (see `sweeps`). Returns the
   * release, to be called once the request has called `retire` or will not: a request that never
   * releases holds each sweep up to `SWEEP_HOLD_MS` only.
   */
  expectRetirement(): () => void {
    return this.sweeps.expect();
  }

  private async sweep(sessionIds: string[]): Promise<Map<string, VaultRead>> {
    const owners = sessionIds.map(vaultOwner.session);
    const [, reads] = await Promise.all([this.vault.deleteKinds(owners, ['id_token', 'access_token']), this.vault.peekMany(owners, 'refresh_token')]);
    return new Map(sessionIds.map((id, i) => [id, reads[i]]));
  }

  /**
   * After sessions were revoked (and queued in the token outbox by the same statement): their id and
   * access tokens are deleted at once; each refresh token is revoked at the OP and only then deleted,
   * with its outbox entry. The caller waits for that up to `RETIRE_WAIT_MS`; what is not done then goes
   * on in the background, and whatever fails (state store or OP unreachable) stays in the outbox for the
   * outbox job. Never throws: the sessions are revoked already.
   */
  async retire(sessionIds: string[], reason: RevokeReason, caller?: RequestContext): Promise<void> {
    if (sessionIds.length === 0) return;
    this.audit.record({ event: 'session_revoked', reason, sessions: sessionIds.length }, caller);
    let swept: Array<VaultRead | Error | undefined>;
    try {
      swept = await Promise.all(sessionIds.map((id) => this.sweeps.get(id)));
    } catch (error) {
      swept = sessionIds.map(() => toError(error));
    }
    // A session the sweep could not reach keeps its outbox entry: the outbox job retires it later.
    const deferred = swept.filter((read) => !isRead(read));
    if (deferred.length > 0) {
      const error = deferred[0] as Error & { code?: string };
      this.logger.error({ msg: 'session.tokens_drop_deferred', sessions: deferred.length, reason, name: error?.name, errorCode: error?.code });
      sessionIds = sessionIds.filter((_, i) => isRead(swept[i]));
      if (sessionIds.length === 0) return;
    }
    const refreshTokens = swept.filter(isRead);
    // No refresh token: the vault holds nothing more of these sessions; only their outbox entries are
    // left, deleted with others shortly (nobody waits for that, see `retireOne`).
    if (refreshTokens.every((read) => !read.stored)) {
      this.logger.debug({ msg: 'session.tokens_dropped', sessions: sessionIds.length, reason });
      this.sessions.tokensDropped(sessionIds).catch((error: unknown) => {
        this.logger.warn({ msg: 'session.outbox_delete_failed', sessions: sessionIds.length, name: (error as Error)?.name, errorCode: (error as { code?: string })?.code });
      });
      return;
    }
    const done = this.finishRetirement(sessionIds, reason, false, refreshTokens);
    // The timer is cleared as soon as the work is done: a busy back-channel route would otherwise keep
    // two seconds' worth of timers (and what they hold) alive.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, RETIRE_WAIT_MS).unref()))]);
    clearTimeout(timer);
  }

  /**
   * Revokes each session's refresh token at the OP (when it has a revocation endpoint), then deletes its
   * vault entries and its outbox entry. Sessions are independent: one failure keeps only that one in
   * the outbox. With `force` (an entry too old to retry) an OP failure no longer keeps it.
   * `refreshTokens` (same order as `sessionIds`): what `retire` just read, when its id and access
   * tokens are deleted already. Returns how many sessions are done.
   */
  async finishRetirement(
    sessionIds: string[],
    reason: RevokeReason,
    force = false,
    refreshTokens?: Array<VaultRead>,
  ): Promise<number> {
    const results = await Promise.allSettled(sessionIds.map((sessionId, i) => this.retireOne(sessionId, reason, force, refreshTokens?.[i])));
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length) {
      const error = (failed[0] as PromiseRejectedResult).reason as Error & { code?: string };
      this.logger.warn({ msg: 'session.retire_deferred', sessions: failed.length, reason, name: error?.name, errorCode: error?.code });
    }
    return results.length - failed.length;
  }

  private async retireOne(sessionId: string, reason: RevokeReason, force: boolean, read?: VaultRead): Promise<void> {
    const owner = vaultOwner.session(sessionId);
    const refreshToken = read ? read.token : await this.vault.get(owner, 'refresh_token');
    if (refreshToken) {
      try {
        const provider = this.idp.forIssuer(await this.sessions.issuerOf(sessionId));
        // A session whose provider is no longer configured: nobody can revoke its refresh token.
        const sent = provider ? await provider.revokeRefreshToken(refreshToken) : false;
        this.logger.log({ msg: sent ? 'refresh_revocation.done' : 'refresh_revocation.unsupported', sessionId });
      } catch (error) {
        this.logger.warn({ msg: 'refresh_revocation.failed', sessionId, name: (error as Error)?.name, abandoned: force });
        if (!force) throw error;
      }
    }
    // With nothing stored under the refresh token (and the other two deleted by `retire`) the vault holds
    // nothing more; a value that did not decrypt is deleted like a token.
    if (!read || read.stored) await this.vault.deleteAll([owner]);
    this.logger.debug({ msg: 'session.tokens_dropped', sessionId, reason });
    const dropped = this.sessions.tokensDropped([sessionId]);
    // A request's retirement (`read` given) does not wait for its outbox entry to go (collected with
    // others into one statement): an entry left behind only makes the outbox job look again and find
    // nothing to drop. The outbox job and the other callers wait, so that the job does not read the
    // same entries again before they are gone, and a failed delete counts as not done.
    if (read === undefined) return dropped;
    dropped.catch((error: unknown) => {
      this.logger.warn({ msg: 'session.outbox_delete_failed', sessionId, name: (error as Error)?.name, errorCode: (error as { code?: string })?.code });
    });
  }
}

function isRead(read: VaultRead | Error | undefined): read is VaultRead {
  return read !== undefined && !(read instanceof Error);
}
