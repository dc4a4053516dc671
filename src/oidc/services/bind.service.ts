import { Inject, Injectable, Logger } from '@nestjs/common';
import { logTag, randomToken, sha256 } from '../crypto/secrets';
import { OidcError } from '../errors/oidc-error';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { type AccountVerifier, OIDC_ACCOUNT_VERIFIER } from '../oidc.tokens';
import { AttemptLimiterStore } from '../stores/attempt-limiter.store';
import { type BindSession, BindSessionStore } from '../stores/bind-session.store';
import { clientIpBucket } from '../util/client-ip';
import { LockStore } from '../stores/lock.store';
import { OidcAudit } from '../observability/audit.service';
import type { RequestContext } from '../observability/request-context';
import { SessionRepository } from '../repositories/session.repository';
import { redisKeys, vaultOwner } from '../stores/redis-keys';
import { TokenVaultStore } from '../stores/token-vault.store';
import type { VerifiedLogin } from './idp-client.service';
import { LoginCompletionService } from './login-completion.service';
import { type IssuedSession, SessionService } from './session.service';

export interface BindInfo {
  issuer: string;
  email: string | null;
  name: string | null;
  actions: { confirm: boolean; create: boolean };
  /** Why `create` is false, so that the bind page can say so; null when it is allowed. */
  createUnavailableReason: CreateUnavailableReason | null;
  expiresAt: Date;
}

export type CreateUnavailableReason = 'create_not_allowed' | 'email_missing' | 'email_not_verified';

export interface BindOutcome {
  issued: IssuedSession;
  returnTo: string;
}

export interface BindStart {
  /** The bind page URL, with the bind token. */
  redirectUrl: string;
  token: string;
  /** The secret of the bind cookie that ties the token to this browser. */
  browserBinding: string;
}

/** Who is making a bind request: the bind cookie of this token, and the client IP (per TRUST_PROXY). */
export interface BindRequester {
  browserBinding: string | undefined;
  clientIp: string;
  /** The User-Agent header, kept on the session this bind issues. */
  userAgent?: string;
  /** For the audit trail (`callerOf(req)`). */
  caller?: RequestContext;
}

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
/** Longer than any confirm or create takes; a holder that dies blocks the token no longer than this. */
const BIND_LOCK_TTL_MS = 30_000;

/**
 * Account binding: an identity the OP verified but that is not linked here gets a one-time bind
 * token; its owner either proves they own an existing account (confirm) or creates one (create).
 */
@Injectable()
export class BindService {
  private readonly logger = new Logger('Bind');

  constructor(
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    @Inject(OIDC_ACCOUNT_VERIFIER) private readonly verifier: AccountVerifier,
    private readonly binds: BindSessionStore,
    private readonly sessionRows: SessionRepository,
    private readonly attempts: AttemptLimiterStore,
    private readonly locks: LockStore,
    private readonly audit: OidcAudit,
    private readonly vault: TokenVaultStore,
    private readonly sessions: SessionService,
    private readonly completion: LoginCompletionService,
  ) {}

  /**
   * Stores the bind session and stashes the tokens under the bind token *and* a browser-binding secret
   * (set as a cookie by the caller): the token alone, mailed to someone else, is worth nothing.
   */
  async begin(login: VerifiedLogin, returnTo: string): Promise<BindStart> {
    const minted = await this.attempts.hit(redisKeys.bindTokensByIdentity(sha256(`${login.issuer}\n${login.subject}`)), this.options.bindAccountWindowMs);
    if (minted > this.options.bindMaxTokensPerIdentity) {
      this.logger.warn({ msg: 'bind.rate_limited', limit: 'identity', subTag: logTag(login.subject) });
      throw new OidcError('too_many_attempts', 'Too many account-binding attempts for this identity; wait and sign in again');
    }
    const token = randomToken();
    const browserBinding = randomToken();
    const tokenHash = bindKey(token, browserBinding);
    const ttl = this.options.bindTokenTtlMs;
    const session: BindSession = {
      providerId: login.providerId,
      authTime: login.authTime,
      acr: login.acr,
      issuer: login.issuer,
      subject: login.subject,
      sid: login.sid,
      issuedAt: login.issuedAt,
      email: login.email,
      emailVerified: login.emailVerified,
      name: login.name,
      returnTo,
      expiresAt: Date.now() + ttl,
    };
    const stash = (await this.sessions.vaultEntries(login, login.issuer)).map((entry) => ({ ...entry, ttlMs: Math.min(entry.ttlMs, ttl) }));
    await this.vault.putAll(vaultOwner.bind(tokenHash), stash, new Date(Date.now() + ttl));
    await this.binds.create(tokenHash, session, ttl);
    this.logger.log({ msg: 'bind.started', subTag: logTag(login.subject) });
    const url = new URL(this.options.bindPageUrl ?? '');
    url.searchParams.set('token', token);
    return { redirectUrl: url.href, token, browserBinding };
  }

  async info(token: string, requester: BindRequester): Promise<BindInfo> {
    const { session } = await this.load(token, requester);
    return {
      issuer: session.issuer,
      email: session.email ? maskEmail(session.email) : null,
      name: session.name,
      actions: { confirm: true, create: this.canCreate(session) },
      createUnavailableReason: this.createUnavailableReason(session),
      expiresAt: new Date(session.expiresAt),
    };
  }

  /** Proves ownership of an existing account, links the identity and issues the session. */
  async confirm(token: string, requester: BindRequester, identifier: string, password: string): Promise<BindOutcome> {
    const { tokenHash } = await this.load(token, requester);
    const normalized = identifier.trim().toLowerCase();
    const accountTag = logTag(normalized);
    const { clientIp } = requester;
    const [perToken, perAccount, perIp] = await Promise.all([
      this.attempts.hit(redisKeys.bindAttemptsByToken(tokenHash), this.options.bindTokenTtlMs),
      this.attempts.hit(redisKeys.bindAttemptsByAccount(sha256(normalized)), this.options.bindAccountWindowMs),
      this.attempts.hit(redisKeys.bindAttemptsByIp(sha256(clientIpBucket(clientIp))), this.options.bindAccountWindowMs),
    ]);
    if (
      perToken > this.options.bindMaxAttemptsPerToken ||
      perAccount > this.options.bindMaxAttemptsPerAccount ||
      perIp > this.options.bindMaxAttemptsPerIp
    ) {
      this.logger.warn({ msg: 'bind.rate_limited', perToken, perAccount, perIp, clientIp, accountTag });
      this.audit.record({ event: 'bind', method: 'confirm', outcome: 'rate_limited', accountTag }, requester.caller);
      throw new OidcError('too_many_attempts', 'Too many attempts; wait and start the login again');
    }
    const account = await this.verifier.verify(normalized, password);
    if (!account) {
      this.logger.warn({ msg: 'bind.confirm_failed', attempt: perToken, clientIp, accountTag });
      this.audit.record({ event: 'bind', method: 'confirm', outcome: 'failure', accountTag, error: 'invalid_credentials' }, requester.caller);
      throw new OidcError('invalid_credentials', 'The identifier or the password is wrong');
    }
    return this.exclusively(tokenHash, 'confirm', requester, (session) => this.completion.linkAndLogin(account.userId, { ...session, userAgent: requester.userAgent }, this.stash(tokenHash), requester.caller));
  }

  /** Creates a local account from the verified claims, when allowed and the email is verified. */
  async create(token: string, requester: BindRequester): Promise<BindOutcome> {
    const { tokenHash, session } = await this.load(token, requester);
    if (!this.options.bindAllowCreate) {
      throw new OidcError('create_not_allowed', 'Creating an account is disabled here; link an existing account instead');
    }
    if (!session.email || !session.emailVerified) {
      throw new OidcError('email_not_verified', 'The OpenID Provider did not verify this email, so no account can be created from it');
    }
    return this.exclusively(tokenHash, 'create', requester, (current) => this.completion.createAndLogin({ ...current, userAgent: requester.userAgent }, this.stash(tokenHash), requester.caller));
  }

  /**
   * Runs the final step holding the token's lock, so that of two concurrent confirms/creates exactly
   * one issues a session; the bind token is consumed only when that step succeeded.
   */
  private async exclusively(tokenHash: string, method: 'confirm' | 'create', requester: BindRequester, work: (session: BindSession) => Promise<IssuedSession>): Promise<BindOutcome> {
    const lockKey = redisKeys.bindLock(tokenHash);
    const owner = await this.locks.acquire(lockKey, BIND_LOCK_TTL_MS);
    if (!owner) throw new OidcError('bind_in_progress', 'This bind token is being used by another request');
    try {
      const session = await this.binds.get(tokenHash);
      if (!session) throw this.gone();
      if (await this.sessionRows.opSessionEnded(session.issuer, session.subject, session.sid, session.issuedAt)) {
        await this.binds.consume(tokenHash);
        await this.vault.deleteAll([vaultOwner.bind(tokenHash)]);
        this.logger.warn({ msg: 'bind.op_session_ended', subTag: logTag(session.subject) });
        throw new OidcError('bind_token_invalid', 'You were signed out at the OpenID Provider meanwhile; sign in again');
      }
      const issued = await work(session);
      await this.binds.consume(tokenHash);
      this.logger.log({ msg: 'bind.completed', sessionId: issued.session.id });
      this.audit.record({ event: 'bind', method, outcome: 'success', sessionId: issued.session.id }, requester.caller);
      return { issued, returnTo: session.returnTo };
    } finally {
      await this.locks.release(lockKey, owner);
    }
  }

  /** A token without this browser's bind cookie gets exactly the answer of an unknown token. */
  private async load(token: string, requester: BindRequester): Promise<{ tokenHash: string; session: BindSession }> {
    const binding = requester.browserBinding;
    if (!TOKEN_SHAPE.test(token) || !binding || !TOKEN_SHAPE.test(binding)) throw this.gone();
    const tokenHash = bindKey(token, binding);
    const session = await this.binds.get(tokenHash);
    if (!session) throw this.gone();
    return { tokenHash, session };
  }

  private stash(tokenHash: string) {
    return { from: 'stash', owner: vaultOwner.bind(tokenHash) } as const;
  }

  private canCreate(session: BindSession): boolean {
    return this.createUnavailableReason(session) === null;
  }

  private createUnavailableReason(session: BindSession): CreateUnavailableReason | null {
    if (!this.options.bindAllowCreate) return 'create_not_allowed';
    if (!session.email) return 'email_missing';
    if (!session.emailVerified) return 'email_not_verified';
    return null;
  }

  private gone(): OidcError {
    return new OidcError('bind_token_invalid', 'This bind link has expired or was already used; sign in again');
  }
}

/** The bind session's key: the token *and* the browser-binding cookie, hashed together. */
function bindKey(token: string, browserBinding: string): string {
  return sha256(`${token}.${browserBinding}`);
}

/** `alice@example.com` → `a***e@example.com`. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at < 1) return '***';
  const local = email.slice(0, at);
  const shown = local.length <= 2 ? `${local[0]}***` : `${local[0]}***${local[local.length - 1]}`;
  return `${shown}${email.slice(at)}`;
}
