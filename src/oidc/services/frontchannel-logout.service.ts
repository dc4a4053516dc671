import { Injectable, Logger } from '@nestjs/common';
import { logTag, sha256 } from '../crypto/secrets';
import { OidcError } from '../errors/oidc-error';
import { OidcAudit } from '../observability/audit.service';
import type { RequestContext } from '../observability/request-context';
import { SessionRepository } from '../repositories/session.repository';
import { parseFrontchannelParams } from '../util/frontchannel';
import type { ProviderClient } from './idp-client.service';
import { SESSION_TOKEN_SHAPE, SessionService } from './session.service';

/**
 * Front-Channel Logout 1.0: the OP loads `…/frontchannel-logout/<provider>?iss=&sid=` in an iframe
 * when the user logs out there. `iss` must be the provider's issuer and `sid` present, otherwise
 * nothing ends (400). Then:
 *
 * - the session of the browser that loads it ends when its (issuer, sid) are those (the session
 *   cookie; one unique-index probe);
 * - with the provider's opt-in `frontchannelLogoutWithoutCookie`, the live sessions of (issuer, sid)
 *   end whoever asks (the cookie does not reach a cross-site iframe): anyone who learns a sid can end
 *   that session — a logout, never a sign-in.
 *
 * The answer is the same whether anything ended or not.
 */
@Injectable()
export class FrontchannelLogoutService {
  private readonly logger = new Logger('FrontchannelLogout');

  constructor(
    private readonly sessionRows: SessionRepository,
    private readonly sessions: SessionService,
    private readonly audit: OidcAudit,
  ) {}

  /**
   * @param query the request's query (only `iss` and `sid` are read)
   * @param sessionToken the session cookie of the browser that loads the URI, if it sent one
   * @throws OidcError `invalid_request` (400) when `iss` or `sid` is missing or wrong; nothing ended
   */
  async logout(provider: ProviderClient, query: Record<string, unknown>, sessionToken: string | undefined, caller?: RequestContext): Promise<void> {
    const params = parseFrontchannelParams(query, provider.issuer);
    if (!params.ok) {
      this.logger.warn({ msg: 'fcl.rejected', provider: provider.id, reason: params.reason });
      this.audit.record({ event: 'frontchannel_logout', provider: provider.id, outcome: 'rejected', reason: params.reason }, caller);
      throw new OidcError('invalid_request', params.message, { reason: params.reason });
    }
    const withoutCookie = provider.options.frontchannelLogoutWithoutCookie;
    let revoked: string[] = [];
    if (withoutCookie) {
      revoked = await this.sessionRows.revokeBySid(provider.issuer, params.sid, 'frontchannel_logout');
    } else if (sessionToken && SESSION_TOKEN_SHAPE.test(sessionToken)) {
      revoked = await this.sessionRows.revokeByTokenHashInOpSession(sha256(sessionToken), provider.issuer, params.sid, 'frontchannel_logout');
    }
    // `by`: which sessions the request could end: this browser's (cookie) or every one of (iss, sid) (opt-in).
    const by = withoutCookie ? 'sid' : 'browser';
    this.logger.log({
      msg: 'fcl.accepted',
      provider: provider.id,
      by,
      browserSession: sessionToken !== undefined,
      revokedSessions: revoked.length,
      sidTag: logTag(params.sid),
    });
    this.audit.record({ event: 'frontchannel_logout', provider: provider.id, outcome: 'accepted', revokedSessions: revoked.length, by }, caller);
    // The revocation and the token outbox were written together. Dropping the cached tokens and
    // revoking refresh tokens at the OP is not waited for: the OP's logout page waits for this iframe,
    // and the answer must not take longer when something ended. What fails stays in the outbox.
    void this.sessions.retire(revoked, 'frontchannel_logout', caller).catch(() => undefined);
  }
}
