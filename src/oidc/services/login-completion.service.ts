import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { OidcError } from '../errors/oidc-error';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { type AfterLoginHook, OIDC_AFTER_LOGIN, type LoginEvent } from '../oidc.tokens';
import { identityConflict, uniqueViolation } from '../repositories/db-errors';
import { IdentityRepository } from '../repositories/identity.repository';
import { UserRepository } from '../repositories/user.repository';
import { SessionRepository } from '../repositories/session.repository';
import { OidcAudit } from '../observability/audit.service';
import type { RequestContext } from '../observability/request-context';
import { vaultOwner } from '../stores/redis-keys';
import { TokenVaultStore } from '../stores/token-vault.store';
import type { VerifiedIdentity } from './idp-client.service';

/** The verified identity, and the browser it signs in from (for the session list). */
export type SigningIn = VerifiedIdentity & { userAgent?: string | null };
import { type IssuedSession, type LoginTokens, SessionService } from './session.service';


/** Where the session's tokens come from: the code exchange just now, or a bind token's stash. */
export type TokenSource =
  | ({ from: 'exchange' } & LoginTokens)
  | { from: 'stash'; owner: string };

/**
 * The last step of every login path: link (or create) in one transaction with the session row,
 * then cache the tokens under the new session and run the after-login hook.
 */
@Injectable()
export class LoginCompletionService {
  private readonly logger = new Logger('Login');

  constructor(
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    @Inject(OIDC_AFTER_LOGIN) private readonly afterLogin: AfterLoginHook,
    private readonly dataSource: DataSource,
    private readonly users: UserRepository,
    private readonly identities: IdentityRepository,
    private readonly sessions: SessionService,
    private readonly vault: TokenVaultStore,
    private readonly sessionRows: SessionRepository,
    private readonly audit: OidcAudit,
  ) {}

  /** The identity is already linked to `userId`. */
  async loginLinked(userId: string, identityId: string, login: SigningIn, tokens: TokenSource, caller?: RequestContext): Promise<IssuedSession> {
    await this.identities.recordLogin(identityId, login.email);
    const issued = await this.sessions.create(userId, login);
    return this.finish(issued, userId, login, tokens, 'linked', caller);
  }

  /** Links the identity to an existing user and issues a session, atomically. */
  async linkAndLogin(userId: string, login: SigningIn, tokens: TokenSource, caller?: RequestContext): Promise<IssuedSession> {
    const issued = await this.transaction(async (manager) => {
      await this.identities.link({ userId, issuer: login.issuer, subject: login.subject, email: login.email }, manager);
      return this.sessions.create(userId, login, manager);
    });
    return this.finish(issued, userId, login, tokens, 'bound', caller);
  }

  /** Creates a local user from the verified claims, links the identity and issues a session, atomically. */
  async createAndLogin(login: SigningIn, tokens: TokenSource, caller?: RequestContext): Promise<IssuedSession> {
    let userId = '';
    const issued = await this.transaction(async (manager) => {
      // An email the OP did not verify could belong to someone else: the account gets none.
      const user = await this.users.create({ email: login.emailVerified ? login.email : null, displayName: login.name }, manager);
      userId = user.id;
      await this.identities.link({ userId, issuer: login.issuer, subject: login.subject, email: login.email }, manager);
      return this.sessions.create(userId, login, manager);
    });
    return this.finish(issued, userId, login, tokens, 'created', caller);
  }

  private async finish(
    issued: IssuedSession,
    userId: string,
    login: SigningIn,
    tokens: TokenSource,
    via: LoginEvent['via'],
    caller: RequestContext | undefined,
  ): Promise<IssuedSession> {
    try {
      if (tokens.from === 'exchange') {
        await this.sessions.cacheTokens(issued.session, tokens);
      } else {
        await this.vault.move(
          tokens.owner,
          vaultOwner.session(issued.session.id),
          { id_token: this.options.idTokenTtlMs, refresh_token: this.options.sessionTtlMs },
          issued.session.expiresAt,
        );
      }
      // A back-channel logout (or another revocation) may have landed while this login was in flight:
      // between the OP issuing the ID token and the session row, or between the row and its tokens.
      // Likewise an unlink of the identity it signs in with, which could not revoke a row not yet written.
      const still = await this.sessionRows.loginStillValid(issued.session.id, login);
      if (still === 'ended') {
        await this.sessionRows.revokeById(issued.session.id, 'backchannel_logout');
        await this.sessions.retire([issued.session.id], 'backchannel_logout', caller);
        this.logger.warn({ msg: 'login.op_session_ended', sessionId: issued.session.id });
        throw new OidcError('op_session_ended', 'You were signed out at the OpenID Provider meanwhile; sign in again');
      }
      if (still === 'unlinked') {
        await this.sessionRows.revokeById(issued.session.id, 'identity_unlinked');
        await this.sessions.retire([issued.session.id], 'identity_unlinked', caller);
        this.logger.warn({ msg: 'login.identity_unlinked', sessionId: issued.session.id });
        throw new OidcError('identity_not_linked', 'This OpenID identity was unlinked from its account while you signed in');
      }
    } catch (error) {
      // A session that was never handed out must not stay live (nor keep tokens nobody revokes).
      if (!(error instanceof OidcError && (error.code === 'op_session_ended' || error.code === 'identity_not_linked'))) {
        await this.sessionRows.revokeById(issued.session.id, 'logout').catch(() => undefined);
        await this.sessions.retire([issued.session.id], 'logout', caller);
      }
      throw error;
    }
    const event: LoginEvent = { userId, sessionId: issued.session.id, issuer: login.issuer, subject: login.subject, via };
    try {
      await this.afterLogin.afterLogin(event);
    } catch (error) {
      this.logger.error({ msg: 'after_login_hook.failed', sessionId: issued.session.id, name: (error as Error)?.name });
    }
    this.logger.log({ msg: 'login.success', provider: login.providerId, sessionId: issued.session.id, userId, via });
    this.audit.record({ event: 'login', outcome: 'success', via, provider: login.providerId, sessionId: issued.session.id, userId }, caller);
    return issued;
  }

  private async transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.dataSource.transaction(work);
    } catch (error) {
      const conflict = identityConflict(error);
      if (conflict) throw conflict;
      if (uniqueViolation(error) === 'users_email_key') {
        throw new OidcError('email_in_use', 'A local account already uses this email; sign in to it to link the identity');
      }
      throw error;
    }
  }
}
