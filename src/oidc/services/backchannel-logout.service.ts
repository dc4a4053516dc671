import { Inject, Injectable, Logger } from '@nestjs/common';
import { logTag } from '../crypto/secrets';
import { OidcError } from '../errors/oidc-error';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { SessionRepository } from '../repositories/session.repository';
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
  ) {}

  async handle(logoutToken: string): Promise<{ revokedSessions: number }> {
    let claims;
    try {
      claims = await this.verifier.verify(logoutToken);
    } catch (error) {
      if (error instanceof OidcError) this.logger.warn({ msg: 'bcl.rejected', reason: error.message });
      throw error;
    }
    const ttl = claims.exp - Math.floor(Date.now() / 1000) + this.options.clockToleranceSec;
    if (!(await this.jtis.claim(claims.iss, claims.jti, ttl))) {
      this.logger.warn({ msg: 'bcl.replay', subTag: logTag(claims.sub), sidTag: logTag(claims.sid) });
      throw new OidcError('invalid_logout_token', 'logout_token was already used (jti replay)');
    }

    let revoked: string[];
    try {
      revoked = claims.sid
        ? await this.sessionRows.revokeBySid(claims.iss, claims.sid, 'backchannel_logout')
        : await this.sessionRows.revokeBySubject(claims.iss, claims.sub as string, 'backchannel_logout');
      await this.sessions.dropTokens(revoked, 'backchannel_logout');
    } catch (error) {
      await this.jtis.release(claims.iss, claims.jti).catch(() => undefined);
      this.logger.error({ msg: 'bcl.failed', name: (error as Error)?.name, errorCode: (error as { code?: string })?.code });
      throw new OidcError('service_unavailable', 'The logout could not be recorded; retry later');
    }
    this.logger.log({
      msg: 'bcl.accepted',
      by: claims.sid ? 'sid' : 'sub',
      revokedSessions: revoked.length,
      subTag: logTag(claims.sub),
      sidTag: logTag(claims.sid),
    });
    return { revokedSessions: revoked.length };
  }
}
