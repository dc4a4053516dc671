import { Inject, Injectable, Logger } from '@nestjs/common';
import { logTag } from '../crypto/secrets';
import { OidcError } from '../errors/oidc-error';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { SessionRepository } from '../repositories/session.repository';
import { EndedOpSessionStore } from '../stores/ended-op-session.store';
import { LOGIN_STATE_TTL_SECONDS } from '../stores/login-state.store';
import { LogoutJtiStore } from '../stores/logout-jti.store';
import { LogoutTokenVerifier } from './logout-token-verifier.service';
import { SessionService } from './session.service';

/**
 * Back-Channel Logout 1.0: verify the logout token, claim its jti, revoke the matching live sessions
 * through indexed queries (by sid when present, else by sub) and drop their cached tokens. If the
 * revocation fails the jti is released so that the OP's retry succeeds.
 */
@Injectable()
export class BackchannelLogoutService {
  private readonly logger = new Logger('BackchannelLogout');

  constructor(
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    private readonly verifier: LogoutTokenVerifier,
    private readonly jtis: LogoutJtiStore,
    private readonly sessionRows: SessionRepository,
    private readonly sessions: SessionService,
    private readonly ended: EndedOpSessionStore,
  ) {}

  async handle(logoutToken: string): Promise<{ revokedSessions: number }> {
    const claims = await this.verifier.verify(logoutToken);
    const ttl = claims.exp - Math.floor(Date.now() / 1000) + this.options.clockToleranceSec;
    if (!(await this.jtis.claim(claims.iss, claims.jti, ttl))) {
      throw new OidcError('logout_token_replayed', 'logout_token was already used (jti replay)');
    }

    let revoked: string[];
    try {
      revoked = await this.revoke(claims.iss, claims.sid, claims.sub);
    } catch (error) {
      await this.jtis.release(claims.iss, claims.jti).catch(() => undefined);
      this.logger.error({ msg: 'bcl.revocation_failed', name: (error as Error)?.name, errorCode: (error as { code?: string })?.code });
      throw new OidcError('service_unavailable', 'The logout could not be recorded; retry later');
    }
    await this.rememberEnded(claims.iss, claims.sid, claims.sub);
    this.logger.log({
      msg: 'bcl.accepted',
      by: claims.sid ? 'sid' : 'sub',
      revokedSessions: revoked.length,
      subTag: logTag(claims.sub),
      sidTag: logTag(claims.sid),
    });
    return { revokedSessions: revoked.length };
  }

  /**
   * Drops the cached tokens first, then revokes: if either step fails nothing is lost, because the
   * OP's retry (the jti was released) finds the same live sessions again. Sessions that appear between
   * the two steps are caught by the UPDATE's RETURNING.
   */
  private async revoke(issuer: string, sid: string | undefined, sub: string | undefined): Promise<string[]> {
    const live = sid ? await this.sessionRows.findLiveIdsBySid(issuer, sid) : await this.sessionRows.findLiveIdsBySubject(issuer, sub as string);
    await this.sessions.dropTokens(live, 'backchannel_logout');
    const revoked = sid
      ? await this.sessionRows.revokeBySid(issuer, sid, 'backchannel_logout')
      : await this.sessionRows.revokeBySubject(issuer, sub as string, 'backchannel_logout');
    const late = revoked.filter((id) => !live.includes(id));
    if (late.length) await this.sessions.dropTokens(late, 'backchannel_logout');
    return revoked;
  }

  /** Keeps a pending bind of this OP session from completing later (best effort). */
  private async rememberEnded(issuer: string, sid: string | undefined, sub: string | undefined): Promise<void> {
    const ttl = this.options.bindTokenTtlMs + LOGIN_STATE_TTL_SECONDS * 1000;
    try {
      if (sid) await this.ended.markSid(issuer, sid, ttl);
      else await this.ended.markSubject(issuer, sub as string, ttl);
    } catch (error) {
      this.logger.warn({ msg: 'bcl.mark_failed', name: (error as Error)?.name });
    }
  }
}
