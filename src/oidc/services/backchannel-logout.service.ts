import { Inject, Injectable, Logger } from '@nestjs/common';
import { logTag, sha256 } from '../crypto/secrets';
import { OidcError } from '../errors/oidc-error';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { SessionRepository } from '../repositories/session.repository';
import { OidcAudit } from '../observability/audit.service';
import type { RequestContext } from '../observability/request-context';
import { LOGIN_STATE_TTL_SECONDS } from '../stores/login-state.store';
import type { ProviderClient } from './idp-client.service';
import { type LogoutClaims, LogoutTokenVerifier } from './logout-token-verifier.service';
import { SessionService } from './session.service';

/**
 * Back-Channel Logout 1.0. Postgres is the source of truth: the logout token's jti is recorded in the
 * same statement that revokes the matching live sessions (by sid when present, else by sub), queues
 * them in the token outbox and remembers the ended OP session against logins still in flight, so the
 * logout is applied exactly once, or not at all and the OP retries (503). Dropping the cached tokens comes after the commit and never decides the answer: with the
 * state store down the outbox keeps them until it is back.
 */
@Injectable()
export class BackchannelLogoutService {
  private readonly logger = new Logger('BackchannelLogout');

  constructor(
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    private readonly verifier: LogoutTokenVerifier,
    private readonly sessionRows: SessionRepository,
    private readonly sessions: SessionService,
    private readonly audit: OidcAudit,
  ) {}

  /** @param provider the provider whose back-channel endpoint received the token: only its keys, issuer and client id verify it. */
  async handle(logoutToken: string, provider: ProviderClient, caller?: RequestContext): Promise<{ revokedSessions: number }> {
    const claims = await this.verifier.verify(logoutToken, provider);
    // Announced once its token is verified (a forged one never holds anything up): in a burst, the vault
    // sweep of the logouts ahead waits for this one (5 ms at most), so that the burst shares it.
    const retirement = this.sessions.expectRetirement();
    try {
      return await this.apply(claims, provider, retirement, caller);
    } finally {
      retirement();
    }
  }

  private async apply(claims: LogoutClaims, provider: ProviderClient, retirement: () => void, caller?: RequestContext): Promise<{ revokedSessions: number }> {
    // Remember the jti for as long as the token could be presented again.
    const validUntilSec = claims.exp ?? claims.iat + Math.ceil(provider.options.backchannelMaxAgeMs / 1000);
    const recordUntil = new Date((validUntilSec + this.options.clockToleranceSec) * 1000);
    // Logins begun before the logout can complete up to a login transaction plus a bind later.
    const rememberEndedUntil = new Date(Date.now() + this.options.bindTokenTtlMs + LOGIN_STATE_TTL_SECONDS * 1000);

    let outcome: { claimed: boolean; revoked: string[] };
    try {
      outcome = await this.sessionRows.revokeForLogoutToken({
        issuer: claims.iss,
        jtiHash: sha256(claims.jti),
        sid: claims.sid,
        subject: claims.sub,
        issuedAt: claims.iat,
        recordUntil,
        rememberEndedUntil,
      });
    } catch (error) {
      this.logger.error({ msg: 'bcl.revocation_failed', name: (error as Error)?.name, errorCode: (error as { code?: string })?.code });
      throw new OidcError('service_unavailable', 'The logout could not be recorded; retry later');
    }
    if (!outcome.claimed) throw new OidcError('logout_token_replayed', 'logout_token was already used (jti replay)');

    // `retire` joins the sweep before the release says this request will not join it any more.
    const retiring = this.sessions.retire(outcome.revoked, 'backchannel_logout', caller);
    retirement();
    await retiring;
    // One line for an accepted logout, the audit line: it says all a separate `bcl.accepted` line said
    // (refusals keep their own warning, for alerting).
    this.audit.record(
      {
        event: 'backchannel_logout',
        provider: provider.id,
        outcome: 'accepted',
        by: claims.sid ? 'sid' : 'sub',
        revokedSessions: outcome.revoked.length,
        subTag: logTag(claims.sub),
        sidTag: logTag(claims.sid),
      },
      caller,
    );
    return { revokedSessions: outcome.revoked.length };
  }
}
