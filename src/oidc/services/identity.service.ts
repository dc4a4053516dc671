import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { logTag } from '../crypto/secrets';
import type { UserIdentityEntity } from '../entities/user-identity.entity';
import { OidcError } from '../errors/oidc-error';
import { OidcAudit } from '../observability/audit.service';
import type { RequestContext } from '../observability/request-context';
import { identityConflict } from '../repositories/db-errors';
import { IdentityRepository } from '../repositories/identity.repository';
import { SessionRepository } from '../repositories/session.repository';
import { UserRepository } from '../repositories/user.repository';
import type { LinkRequest } from '../stores/login-state.store';
import type { VerifiedIdentity } from './idp-client.service';
import { IdpClientService } from './idp-client.service';
import { SessionService } from './session.service';

/** One identity of the caller, as `GET /auth/identities` lists it. */
export interface IdentityView {
  id: string;
  /** The configured provider of its issuer; null when that provider is no longer configured. */
  provider: string | null;
  issuer: string;
  subject: string;
  email: string | null;
  createdAt: Date;
  lastLoginAt: Date | null;
}

export type LinkDecision =
  | { kind: 'insert' }
  | { kind: 'already_linked'; identityId: string }
  | { kind: 'conflict'; message: string };

/**
 * What linking (issuer, subject) to `userId` does, given the identity of that (issuer, subject) and
 * the user's identity at that issuer, if any: linked to this user already → nothing to do; linked to
 * someone else, or the user has another identity of that issuer (UNIQUE(user_id, issuer)) → conflict.
 */
export function linkDecision(userId: string, bySubject: Pick<UserIdentityEntity, 'id' | 'userId'> | null, ofUserAtIssuer: Pick<UserIdentityEntity, 'id'> | null): LinkDecision {
  if (bySubject) {
    return bySubject.userId === userId
      ? { kind: 'already_linked', identityId: bySubject.id }
      : { kind: 'conflict', message: 'This OpenID identity is already linked to another account' };
  }
  if (ofUserAtIssuer) return { kind: 'conflict', message: 'Your account is already linked to another identity of this OpenID Provider; unlink it first' };
  return { kind: 'insert' };
}

/** Whether an account may lose one of its `identities` identities: it must keep a way to sign in. */
export function mayUnlink(identities: number, hasPassword: boolean): boolean {
  return hasPassword || identities > 1;
}

export interface LinkOutcome {
  identityId: string;
  /** False when the identity was linked to this user already (nothing changed). */
  created: boolean;
}

/** The signed-in user's identities: list, link (from a link login), unlink. */
@Injectable()
export class IdentityService {
  private readonly logger = new Logger('Identity');

  constructor(
    private readonly dataSource: DataSource,
    private readonly users: UserRepository,
    private readonly identities: IdentityRepository,
    private readonly sessionRows: SessionRepository,
    private readonly sessions: SessionService,
    private readonly idp: IdpClientService,
    private readonly audit: OidcAudit,
  ) {}

  async list(userId: string): Promise<IdentityView[]> {
    const rows = await this.identities.listByUser(userId);
    return rows.map((i) => ({
      id: i.id,
      provider: this.idp.forIssuer(i.issuer)?.id ?? null,
      issuer: i.issuer,
      subject: i.subject,
      email: i.email,
      createdAt: i.createdAt,
      lastLoginAt: i.lastLoginAt,
    }));
  }

  /**
   * Links a verified identity to the user of a link login, in one transaction that holds the user's
   * row (links and unlinks of one account run one at a time) and the session that started the link
   * (it must still be live and this user's, else 401 and nothing changes).
   */
  async link(link: LinkRequest, login: VerifiedIdentity): Promise<LinkOutcome> {
    try {
      return await this.dataSource.transaction(async (manager) => {
        const user = await this.users.lockForSignInChange(link.userId, manager);
        if (!user || !(await this.sessionRows.isLiveOfUser(link.sessionId, link.userId, manager))) {
          throw new OidcError('unauthenticated', 'The session that started this link has ended: sign in and start again');
        }
        const bySubject = await this.identities.findByIssuerSubject(login.issuer, login.subject, manager);
        const atIssuer = bySubject ? null : await this.identities.findByUserIssuer(link.userId, login.issuer, manager);
        const decision = linkDecision(link.userId, bySubject, atIssuer);
        switch (decision.kind) {
          case 'already_linked':
            return { identityId: decision.identityId, created: false };
          case 'conflict':
            throw new OidcError('identity_conflict', decision.message, { subTag: logTag(login.subject) });
          case 'insert': {
            const created = await this.identities.link({ userId: link.userId, issuer: login.issuer, subject: login.subject, email: login.email }, manager);
            return { identityId: created.id, created: true };
          }
        }
      });
    } catch (error) {
      // A concurrent link of the same identity (or of another of this issuer) won the race.
      throw identityConflict(error) ?? error;
    }
  }

  /**
   * Unlinks one of the caller's identities, unless it is the account's last way to sign in (no other
   * identity, no password): the user's row is locked (`FOR UPDATE`) for the count, the delete and the
   * revocation of the user's live sessions that signed in through that identity, all one commit; then
   * those sessions are retired (cached tokens dropped, refresh tokens revoked at the OP).
   * Returns the revoked session ids.
   */
  async unlink(userId: string, identityId: string, caller?: RequestContext): Promise<string[]> {
    const { revoked, provider } = await this.dataSource.transaction(async (manager) => {
      const user = await this.users.lockForSignInChange(userId, manager);
      const identity = user ? await this.identities.findOwn(userId, identityId, manager) : null;
      if (!user || !identity) throw new OidcError('identity_not_found', 'No identity with this id is linked to your account');
      // Only identities of configured providers can still sign in: one of a removed provider does not count.
      const usable = (await this.identities.issuersOfUser(userId, manager)).filter((issuer) => this.idp.forIssuer(issuer) !== undefined);
      const othersUsable = usable.length - (this.idp.forIssuer(identity.issuer) ? 1 : 0);
      if (!mayUnlink(othersUsable + 1, user.hasPassword)) {
        throw new OidcError('last_sign_in_method', "This is your account's only way to sign in; link another identity first");
      }
      await this.identities.deleteOwn(userId, identityId, manager);
      const ids = await this.sessionRows.revokeSignedInWith(userId, identity.issuer, identity.subject, 'identity_unlinked', manager);
      return { revoked: ids, provider: this.idp.forIssuer(identity.issuer)?.id ?? null };
    });
    this.logger.log({ msg: 'identity.unlinked', userId, identityId, revokedSessions: revoked.length });
    this.audit.record({ event: 'identity_unlinked', userId, identityId, provider, revokedSessions: revoked.length }, caller);
    await this.sessions.retire(revoked, 'identity_unlinked', caller);
    return revoked;
  }
}
