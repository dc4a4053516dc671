import { Injectable, Logger } from '@nestjs/common';
import { vaultOwner } from '../stores/redis-keys';
import { TokenVaultStore } from '../stores/token-vault.store';
import { SessionRepository } from '../repositories/session.repository';
import { OidcAudit } from '../observability/audit.service';
import type { RequestContext } from '../observability/request-context';
import { type EndSessionSupport, IdpClientService, type ProviderClient } from './idp-client.service';
import { type AuthenticatedSession, SessionService } from './session.service';

export interface LogoutResult {
  endSessionUrl?: string;
  revokedSessions: number;
}

/**
 * RP-Initiated Logout: revoke this session (or all of the user's), retire their cached tokens (the
 * refresh tokens are revoked at the OP in the background), and build the end-session URL from this
 * session's own id_token, consumed atomically.
 */
@Injectable()
export class LogoutService {
  private readonly logger = new Logger('Logout');

  constructor(
    private readonly idp: IdpClientService,
    private readonly sessions: SessionService,
    private readonly sessionRows: SessionRepository,
    private readonly vault: TokenVaultStore,
    private readonly audit: OidcAudit,
  ) {}

  async logout(current: AuthenticatedSession, everywhere: boolean, caller?: RequestContext): Promise<LogoutResult> {
    const { session } = current;
    const reason = everywhere ? 'logout_everywhere' : 'logout';
    // Whether a URL can be built is known (discovery may take a moment) before anything is revoked, so
    // that the id_token is taken right after the revocation, before any clean-up can drop it.
    const provider = this.idp.forIssuer(session.issuer);
    const support = await this.endSessionSupport(provider);
    const revoked = everywhere
      ? await this.sessionRows.revokeAllOfUser(session.userId, reason)
      : await this.sessionRows.revokeOwn(session.userId, session.id, reason);

    // The endpoint is checked before the id_token is consumed: an unusable endpoint leaves it in place.
    // The id_token is read only by the request that ended this live session: a session that another
    // logout (or the OP) ended first never yields a token.
    let idToken: string | undefined;
    try {
      idToken = support.enabled && revoked.includes(session.id) ? await this.vault.take(vaultOwner.session(session.id), 'id_token') : undefined;
    } catch (error) {
      this.logger.error({ msg: 'logout.vault_failed', sessionId: session.id, name: (error as Error)?.name });
    }
    await this.sessions.retire(revoked, reason, caller);

    const endSessionUrl = provider && support.enabled && idToken ? await this.buildEndSessionUrl(provider, support.endpoint, idToken, session.id) : undefined;
    this.logger.log({
      msg: 'logout.done',
      sessionId: session.id,
      everywhere,
      revokedSessions: revoked.length,
      endSessionUrlIssued: Boolean(endSessionUrl),
    });
    this.audit.record({ event: 'logout', everywhere, sessionId: session.id, revokedSessions: revoked.length, endSessionUrl: Boolean(endSessionUrl) }, caller);
    return { endSessionUrl, revokedSessions: revoked.length };
  }

  /** RP-Initiated Logout goes to the session's own provider (none when it is no longer configured). */
  private async endSessionSupport(provider: ProviderClient | undefined): Promise<EndSessionSupport> {
    if (!provider) return { enabled: false, reason: 'the provider of this session is no longer configured' };
    try {
      return await provider.endSessionSupport();
    } catch {
      return { enabled: false, reason: 'the OpenID Provider could not be reached' };
    }
  }

  private async buildEndSessionUrl(provider: ProviderClient, endpoint: string, idToken: string, sessionId: string): Promise<string | undefined> {
    try {
      return await provider.endSessionUrl(endpoint, idToken);
    } catch (error) {
      this.logger.error({ msg: 'logout.end_session_url_failed', sessionId, name: (error as Error)?.name });
      return undefined;
    }
  }
}
