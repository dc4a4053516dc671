import { Injectable, Logger } from '@nestjs/common';
import { vaultOwner } from '../stores/redis-keys';
import { TokenVaultStore } from '../stores/token-vault.store';
import { SessionRepository } from '../repositories/session.repository';
import { type EndSessionSupport, IdpClientService } from './idp-client.service';
import { type AuthenticatedSession, SessionService } from './session.service';

export interface LogoutResult {
  endSessionUrl?: string;
  revokedSessions: number;
}

/**
 * RP-Initiated Logout: revoke this session (or all of the user's), drop their cached tokens, revoke
 * the refresh tokens at the OP (best effort, in the background), and build the end-session URL from
 * this session's own id_token, consumed atomically.
 */
@Injectable()
export class LogoutService {
  private readonly logger = new Logger('Logout');

  constructor(
    private readonly idp: IdpClientService,
    private readonly sessions: SessionService,
    private readonly sessionRows: SessionRepository,
    private readonly vault: TokenVaultStore,
  ) {}

  async logout(current: AuthenticatedSession, everywhere: boolean): Promise<LogoutResult> {
    const { session } = current;
    const reason = everywhere ? 'logout_everywhere' : 'logout';
    const revoked = everywhere
      ? await this.sessionRows.revokeAllOfUser(session.userId, reason)
      : await this.sessionRows.revokeOwn(session.userId, session.id, reason);

    // The endpoint is checked before the id_token is consumed: an unusable endpoint leaves it in place.
    const support = await this.endSessionSupport();
    let idToken: string | undefined;
    let refreshTokens: Array<{ sessionId: string; token: string }> = [];
    try {
      idToken = support.enabled ? await this.vault.take(vaultOwner.session(session.id), 'id_token') : undefined;
      refreshTokens = await this.takeRefreshTokens(revoked);
      await this.sessions.dropTokens(revoked, reason);
    } catch (error) {
      // The sessions are revoked already; the logout succeeds, the cached tokens expire with their TTL.
      this.logger.error({ msg: 'logout.vault_failed', sessionId: session.id, name: (error as Error)?.name });
    }
    this.revokeAtProvider(refreshTokens);

    const endSessionUrl = support.enabled && idToken ? await this.buildEndSessionUrl(support.endpoint, idToken, session.id) : undefined;
    this.logger.log({
      msg: 'logout.done',
      sessionId: session.id,
      everywhere,
      revokedSessions: revoked.length,
      endSessionUrlIssued: Boolean(endSessionUrl),
    });
    return { endSessionUrl, revokedSessions: revoked.length };
  }

  private async endSessionSupport(): Promise<EndSessionSupport> {
    try {
      return await this.idp.endSessionSupport();
    } catch {
      return { enabled: false, reason: 'the OpenID Provider could not be reached' };
    }
  }

  private async buildEndSessionUrl(endpoint: string, idToken: string, sessionId: string): Promise<string | undefined> {
    try {
      return await this.idp.endSessionUrl(endpoint, idToken);
    } catch (error) {
      this.logger.error({ msg: 'logout.end_session_url_failed', sessionId, name: (error as Error)?.name });
      return undefined;
    }
  }

  private async takeRefreshTokens(sessionIds: string[]): Promise<Array<{ sessionId: string; token: string }>> {
    const taken = await Promise.all(
      sessionIds.map(async (sessionId) => ({ sessionId, token: await this.vault.take(vaultOwner.session(sessionId), 'refresh_token') })),
    );
    return taken.filter((t): t is { sessionId: string; token: string } => t.token !== undefined);
  }

  /** Best effort and never awaited by the logout: an unreachable OP must not block or fail it. */
  private revokeAtProvider(tokens: Array<{ sessionId: string; token: string }>): void {
    for (const { sessionId, token } of tokens) {
      this.idp.revokeRefreshToken(token).then(
        (sent) => this.logger.log({ msg: sent ? 'refresh_revocation.done' : 'refresh_revocation.unsupported', sessionId }),
        (error: Error) => this.logger.warn({ msg: 'refresh_revocation.failed', sessionId, name: error?.name }),
      );
    }
  }
}
