import { Inject, Injectable, Logger } from '@nestjs/common';
import type { SessionEntity } from '../entities/session.entity';
import { OidcError } from '../errors/oidc-error';
import type { RequestContext } from '../observability/request-context';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { SessionRepository } from '../repositories/session.repository';
import { OidcAudit } from '../observability/audit.service';
import { LockStore } from '../stores/lock.store';
import { redisKeys, vaultOwner } from '../stores/redis-keys';
import { accessTokenEntry, readAccessToken, TokenVaultStore, type VaultEntry } from '../stores/token-vault.store';
import { IdpClientService, type ProviderClient } from './idp-client.service';
import { SessionService } from './session.service';

const WAIT_STEP_MS = 50;

/**
 * Access tokens for calling APIs as the signed-in user. Returns the session's cached access token, or
 * refreshes it through the OP when it expires within `accessTokenRefreshSkewMs` — once per session
 * across every instance: a short lock in the shared store, a re-read after acquiring it, and waiters
 * that pick up the fresh token. The rotated refresh token and the new access token are saved together
 * before anyone can use them.
 */
@Injectable()
export class OidcTokenService {
  private readonly logger = new Logger('OidcToken');

  constructor(
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    private readonly vault: TokenVaultStore,
    private readonly locks: LockStore,
    private readonly idp: IdpClientService,
    private readonly sessions: SessionService,
    private readonly sessionRows: SessionRepository,
    private readonly audit: OidcAudit,
  ) {}

  /**
   * A valid access token for this (live, as checked by `SessionGuard`) session.
   * @throws OidcError `no_refresh_token` (401) when it expired and cannot be refreshed,
   *   `refresh_failed` (401, the session is revoked) when the OP rejects the refresh token,
   *   `service_unavailable` (503, the session stays) when the OP or the store cannot be reached.
   */
  async getAccessToken(session: SessionEntity, caller?: RequestContext): Promise<string> {
    const owner = vaultOwner.session(session.id);
    const cached = await this.fresh(owner);
    if (cached) return cached;

    // Discovery happens before the lock, so that the only OP call under it is the grant itself
    // (bounded by OIDC_HTTP_TIMEOUT): the lock cannot expire while its holder still works.
    const provider = this.idp.forIssuer(session.issuer);
    if (!provider) throw new OidcError('refresh_failed', 'The OpenID Provider of this session is no longer configured; sign in again');
    await provider.config().catch(() => {
      throw new OidcError('service_unavailable', 'The OpenID Provider could not be reached to refresh the access token; retry later');
    });
    const lockKey = redisKeys.refreshLock(session.id);
    const lockTtl = 2 * this.options.httpTimeoutMs + 10_000;
    const deadline = Date.now() + lockTtl + 1_000;
    for (;;) {
      const lock = await this.locks.acquire(lockKey, lockTtl);
      if (lock) {
        try {
          // Someone may have refreshed between our read and the lock, or ended the session meanwhile.
          const token = await this.fresh(owner);
          if (token) return token;
          if (!(await this.sessionRows.isLive(session.id))) throw new OidcError('unauthenticated', 'No valid session: sign in again');
          return await this.refresh(session, provider, lockKey, lock, caller);
        } finally {
          await this.locks.release(lockKey, lock).catch(() => undefined);
        }
      }
      // Another request (here or on another instance) is refreshing: wait for its result.
      while (Date.now() < deadline && (await this.locks.isHeld(lockKey))) {
        await sleep(WAIT_STEP_MS);
        const token = await this.fresh(owner);
        if (token) return token;
      }
      const token = await this.fresh(owner);
      if (token) return token;
      if (Date.now() >= deadline) throw new OidcError('service_unavailable', 'The access token is being refreshed; retry later');
    }
  }

  /** The cached access token when it is still valid beyond the skew. */
  private async fresh(owner: string): Promise<string | undefined> {
    const stored = await this.vault.get(owner, 'access_token');
    if (!stored) return undefined;
    const { token, expiresAt, lifetimeMs } = readAccessToken(stored);
    // A token shorter-lived than twice the skew is refreshed at half its life, not at every request.
    const skew = Math.min(this.options.accessTokenRefreshSkewMs, lifetimeMs / 2);
    return expiresAt - skew > Date.now() ? token : undefined;
  }

  /** Runs the refresh grant and saves its result; the caller holds the session's refresh lock. */
  private async refresh(session: SessionEntity, provider: ProviderClient, lockKey: string, lock: string, caller: RequestContext | undefined): Promise<string> {
    const owner = vaultOwner.session(session.id);
    const refreshToken = await this.vault.get(owner, 'refresh_token');
    if (!refreshToken) {
      throw new OidcError('no_refresh_token', 'The access token expired and this session has no refresh token: request offline_access or sign in again');
    }
    let refreshed;
    try {
      refreshed = await provider.refresh(refreshToken);
    } catch (error) {
      if (error instanceof OidcError && error.code === 'refresh_failed') {
        this.logger.warn({ msg: 'token.refresh_rejected', sessionId: session.id, opError: error.logFields.opError });
        this.audit.record({ event: 'token_refresh', outcome: 'rejected', sessionId: session.id }, caller);
        await this.sessions.retire(await this.sessionRows.revokeById(session.id, 'refresh_failed'), 'refresh_failed', caller);
      } else {
        this.logger.error({ msg: 'token.refresh_unavailable', sessionId: session.id });
        this.audit.record({ event: 'token_refresh', outcome: 'unavailable', sessionId: session.id }, caller);
      }
      throw error;
    }
    const entries: VaultEntry[] = [accessTokenEntry(refreshed.accessToken, refreshed.accessTokenExpiresAt)];
    // The rotated refresh token replaces the spent one (same lifetime as the session's).
    if (refreshed.refreshToken) entries.push({ kind: 'refresh_token', token: refreshed.refreshToken, ttlMs: this.options.sessionTtlMs });
    if (refreshed.idToken && (await this.sessions.keepsIdToken(session.issuer))) {
      entries.push({ kind: 'id_token', token: refreshed.idToken, ttlMs: this.options.idTokenTtlMs });
    }
    if (!(await this.locks.holds(lockKey, lock))) {
      // Should never happen (the lock outlives the grant); if it did, another request may be refreshing.
      this.logger.error({ msg: 'token.refresh_lock_lost', sessionId: session.id });
    }
    await this.vault.putAll(owner, entries, session.expiresAt);
    // The session may have ended while the grant was in flight (a logout, a back-channel logout): its
    // clean-up ran before these tokens were written, so they are dropped and revoked here.
    if (!(await this.sessionRows.isLive(session.id))) {
      await this.sessions.finishRetirement([session.id], 'refresh_after_revocation');
      throw new OidcError('unauthenticated', 'No valid session: sign in again');
    }
    this.logger.log({ msg: 'token.refreshed', sessionId: session.id, rotated: Boolean(refreshed.refreshToken) });
    this.audit.record({ event: 'token_refresh', outcome: 'success', sessionId: session.id }, caller);
    return refreshed.accessToken;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
