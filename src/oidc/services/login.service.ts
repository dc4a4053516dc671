import { Inject, Injectable, Logger } from '@nestjs/common';
import { logTag, randomToken, sha256 } from '../crypto/secrets';
import { OidcError } from '../errors/oidc-error';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { IdentityRepository } from '../repositories/identity.repository';
import { OidcAudit } from '../observability/audit.service';
import type { RequestContext } from '../observability/request-context';
import { type LinkRequest, type LoginState, LoginStateStore } from '../stores/login-state.store';
import { authorizationParams, linkParams, type LoginParams } from '../util/login-params';
import { validateReturnTo } from '../util/return-to';
import { authenticatedRecently, reauthenticationRequired, reauthenticationUrl } from '../util/step-up';
import { type BindStart, BindService } from './bind.service';
import { IdentityService } from './identity.service';
import { IdpClientService, type ProviderClient, type VerifiedLogin } from './idp-client.service';
import { LoginCompletionService, type TokenSource } from './login-completion.service';
import { type IssuedSession, SessionService } from './session.service';

export interface LoginStart {
  redirectUrl: string;
  state: string;
  /** The browser-binding secret for the short-lived HttpOnly transaction cookie. */
  browserBinding: string;
}

export type CallbackOutcome =
  | { kind: 'session'; issued: IssuedSession; returnTo: string }
  | { kind: 'bind'; bind: BindStart }
  /** A link login: the identity is linked to the signed-in user; no session was created. */
  | { kind: 'linked'; returnTo: string };

const STATE_SHAPE = /^[A-Za-z0-9_-]{16,128}$/;
/** How long a link callback waits for the OP to revoke the refresh token it will not keep. */
const REVOKE_WAIT_MS = 2_000;

/** The authorization-code flow: PKCE S256, state and nonce, bound to the browser that started it. */
@Injectable()
export class LoginService {
  private readonly logger = new Logger('Login');

  constructor(
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    private readonly idp: IdpClientService,
    private readonly states: LoginStateStore,
    private readonly identities: IdentityRepository,
    private readonly completion: LoginCompletionService,
    private readonly bind: BindService,
    private readonly sessions: SessionService,
    private readonly identityLinks: IdentityService,
    private readonly audit: OidcAudit,
  ) {}

  /** The validated `return_to` (relative, or on an allowed host). @throws OidcError `invalid_return_to` */
  returnTo(returnToParam: string | undefined): string {
    const returnTo = validateReturnTo(returnToParam, {
      allowedHosts: this.options.returnToAllowedHosts,
      allowHttp: this.options.allowInsecureHttp,
    });
    if (returnTo === undefined) {
      throw new OidcError('invalid_return_to', 'return_to must be a relative path or an absolute URL on an allowed host');
    }
    return returnTo;
  }

  /**
   * Starts a link: a login at `providerId` whose identity is linked to the user of the session this
   * browser presents (its cookie), instead of signing in. Always a fresh authentication at the OP
   * (`linkParams`). When the session's user signed in too long ago, returns where to sign in again first
   * (a fresh sign-in at the session's provider that comes back to `linkReturnPath`).
   * @throws OidcError `unauthenticated` without a live session cookie.
   */
  async startLink(
    presentedSessionToken: string | undefined,
    providerId: string | undefined,
    returnTo: string | undefined,
    params: LoginParams = {},
    /** This request's own path and query: where a re-authentication comes back to. */
    linkReturnPath?: string,
    caller?: RequestContext,
  ): Promise<LoginStart | { reauthenticateAt: string }> {
    const checked = linkParams(params);
    const current = presentedSessionToken ? await this.sessions.authenticate(presentedSessionToken, caller) : undefined;
    if (!current) throw new OidcError('unauthenticated', 'Linking an identity needs a live session in this browser: sign in first');
    // Holding a session is not enough to add a way into the account: a recent sign-in of its user is.
    const limits = { maxAgeMs: this.options.identityChangeMaxAuthAgeMs, clockToleranceSec: this.options.clockToleranceSec };
    if (!authenticatedRecently(current.session, limits)) {
      const provider = this.idp.forIssuer(current.session.issuer)?.options;
      if (!provider) throw reauthenticationRequired(null);
      return { reauthenticateAt: reauthenticationUrl(provider, linkReturnPath) };
    }
    return this.start(providerId, returnTo, checked, { userId: current.user.id, sessionId: current.session.id });
  }

  /**
   * @param providerId the provider to sign in with; without one, `default` (or the only provider)
   * @param params login parameters, already checked against the allowlist (`parseLoginParams`)
   * @param link set when a signed-in user links another identity (`GET /auth/oidc/link`)
   */
  async start(
    providerId: string | undefined,
    returnToParam: string | undefined,
    params: LoginParams = {},
    link?: { userId: string; sessionId: string },
  ): Promise<LoginStart> {
    const provider = providerId === undefined ? this.idp.defaultProvider() : this.idp.find(providerId);
    if (!provider) {
      throw new OidcError('unknown_provider', providerId === undefined ? 'Several OpenID Providers are configured: name one with ?provider=' : 'No OpenID Provider is configured with this id');
    }
    const returnTo = this.returnTo(returnToParam);
    const request = await provider.authorizationRequest(authorizationParams(params));
    const browserBinding = randomToken();
    await this.states.save(request.state, sha256(browserBinding), {
      provider: provider.id,
      ...(params.maxAge !== undefined ? { maxAge: params.maxAge } : {}),
      ...(params.acrValues ? { acrValues: params.acrValues } : {}),
      ...(link ? { link } : {}),
      codeVerifier: request.codeVerifier,
      nonce: request.nonce,
      returnTo,
      createdAt: Date.now(),
    });
    this.logger.log({ msg: link ? 'link.started' : 'login.started', provider: provider.id });
    return { redirectUrl: request.url, state: request.state, browserBinding };
  }

  /**
   * @param routeProviderId the provider whose callback route was called (from the path, never the query)
   * @param query the raw callback query string (validated by openid-client, incl. `iss` when present)
   * @param browserBinding the transaction cookie, if the browser sent it
   * @param presentedSessionToken the session cookie, if the browser sent one (a link must present the session that started it)
   */
  async callback(
    routeProviderId: string | undefined,
    query: URLSearchParams,
    rawQuery: string,
    browserBinding: string | undefined,
    userAgent?: string,
    presentedSessionToken?: string,
    caller?: RequestContext,
  ): Promise<CallbackOutcome> {
    const routeProvider = routeProviderId === undefined ? this.idp.find('default') : this.idp.find(routeProviderId);
    if (!routeProvider) throw new OidcError('unknown_provider', 'No OpenID Provider is configured for this callback');
    if (!browserBinding) {
      throw new OidcError('login_session_missing', 'This login was not started in this browser, or it took too long; start again');
    }
    const state = query.get('state');
    if (!state || !STATE_SHAPE.test(state)) {
      throw new OidcError('invalid_state', 'The login response has no valid state; start again');
    }
    const tx = await this.states.consume(state, sha256(browserBinding));
    if (!tx) {
      throw new OidcError('invalid_state', 'The login state is unknown, expired, already used, or belongs to another browser; start again');
    }
    // Mix-up defence (RFC 9207, OAuth security BCP 4.4): the provider is the one this login was started
    // with. A response arriving at another provider's callback is refused before any code is exchanged
    // (the state is spent: it cannot be replayed at the right callback either).
    if (tx.provider !== routeProvider.id) {
      this.logger.warn({ msg: 'login.provider_mismatch', started: tx.provider, callback: routeProvider.id });
      throw new OidcError('provider_mismatch', 'This login response arrived at another OpenID Provider\'s callback than the one the login started with; start again');
    }
    if (tx.link) return this.completeLink(routeProvider, tx, tx.link, state, rawQuery, presentedSessionToken, caller);
    const verified = await routeProvider.exchangeCode(rawQuery, { state, nonce: tx.nonce, codeVerifier: tx.codeVerifier, maxAge: tx.maxAge });
    this.checkAcr(tx, verified, routeProvider.id);
    const login = { ...verified, userAgent };
    const tokens: TokenSource = {
      from: 'exchange',
      idToken: login.idToken,
      refreshToken: login.refreshToken,
      accessToken: login.accessToken,
      accessTokenExpiresAt: login.accessTokenExpiresAt,
    };

    const identity = await this.identities.findByIssuerSubject(login.issuer, login.subject);
    if (identity) {
      const issued = await this.completion.loginLinked(identity.userId, identity.id, login, tokens, caller);
      return { kind: 'session', issued, returnTo: tx.returnTo };
    }

    this.logger.log({ msg: 'login.unlinked_identity', policy: this.options.unlinkedIdentity, subTag: logTag(login.subject) });
    switch (this.options.unlinkedIdentity) {
      case 'create': {
        const issued = await this.completion.createAndLogin(login, tokens, caller);
        return { kind: 'session', issued, returnTo: tx.returnTo };
      }
      case 'bind':
        return { kind: 'bind', bind: await this.bind.begin(login, tx.returnTo) };
      case 'reject':
        throw new OidcError('identity_not_linked', 'This OpenID identity is not linked to an account here');
    }
  }

  /**
   * The callback of a link login. The browser must still present the session that started the link
   * (checked before the code is exchanged, and again, locked, when linking); then the identity is
   * linked to that user, or found linked to them already. Never a session, never the
   * unlinked-identity policy. The tokens of this exchange are not kept: the refresh token is revoked
   * at the OP (best effort, whatever the outcome).
   */
  private async completeLink(
    provider: ProviderClient,
    tx: LoginState,
    link: LinkRequest,
    state: string,
    rawQuery: string,
    presentedSessionToken: string | undefined,
    caller: RequestContext | undefined,
  ): Promise<CallbackOutcome> {
    const fail = (error: unknown): never => {
      this.audit.record({ event: 'identity_linked', outcome: 'failure', provider: provider.id, userId: link.userId, sessionId: link.sessionId, error: error instanceof OidcError ? error.code : 'internal_error' }, caller);
      throw error;
    };
    const current = presentedSessionToken ? await this.sessions.authenticate(presentedSessionToken, caller).catch(fail) : undefined;
    if (!current || current.session.id !== link.sessionId || current.user.id !== link.userId) {
      this.logger.warn({ msg: 'link.session_mismatch', provider: provider.id, sessionId: link.sessionId, presented: current ? 'other_session' : 'none' });
      return fail(new OidcError('unauthenticated', 'Linking needs the session that started it, in the same browser: sign in and start again'));
    }
    const verified = await provider.exchangeCode(rawQuery, { state, nonce: tx.nonce, codeVerifier: tx.codeVerifier, maxAge: tx.maxAge }).catch(fail);
    // A link needs an authentication made for it: not one the OP had from before this link started
    // (openid-client's max_age check allows its own clock tolerance, and some OPs ignore max_age).
    if (verified.authTime === null || verified.authTime < tx.createdAt / 1000 - this.options.clockToleranceSec) {
      this.logger.warn({ msg: 'link.stale_authentication', provider: provider.id, authTime: verified.authTime });
      return fail(new OidcError('code_exchange_failed', 'The OpenID Provider did not sign you in afresh for this link; start the link again'));
    }
    try {
      this.checkAcr(tx, verified, provider.id);
      const linked = await this.identityLinks.link(link, verified);
      this.logger.log({ msg: linked.created ? 'link.success' : 'link.already_linked', provider: provider.id, userId: link.userId, identityId: linked.identityId, subTag: logTag(verified.subject) });
      this.audit.record({ event: 'identity_linked', outcome: 'success', provider: provider.id, userId: link.userId, sessionId: link.sessionId, identityId: linked.identityId, alreadyLinked: !linked.created }, caller);
      return { kind: 'linked', returnTo: tx.returnTo };
    } catch (error) {
      return fail(error);
    } finally {
      await this.dropLinkTokens(provider, verified);
    }
  }

  /** The ID token's `acr` must be one of the `acr_values` the login asked for. */
  private checkAcr(tx: LoginState, verified: VerifiedLogin, providerId: string): void {
    if (tx.acrValues && (!verified.acr || !tx.acrValues.includes(verified.acr))) {
      this.logger.warn({ msg: 'login.acr_not_satisfied', provider: providerId, acr: verified.acr ?? null });
      throw new OidcError('acr_not_satisfied', 'The OpenID Provider did not authenticate you at the level asked for; sign in again');
    }
  }

  /** A link keeps no token: the refresh token is revoked at the OP, waited for up to REVOKE_WAIT_MS. Never throws, never logs a token. */
  private async dropLinkTokens(provider: ProviderClient, verified: VerifiedLogin): Promise<void> {
    if (!verified.refreshToken) return;
    const revocation = provider.revokeRefreshToken(verified.refreshToken).then(
      (sent) => this.logger.log({ msg: sent ? 'link.refresh_token_revoked' : 'link.refresh_token_revocation_unsupported', provider: provider.id }),
      (error: unknown) => this.logger.warn({ msg: 'link.refresh_token_revocation_failed', provider: provider.id, name: (error as Error)?.name }),
    );
    await Promise.race([revocation, new Promise((resolve) => setTimeout(resolve, REVOKE_WAIT_MS).unref())]);
  }
}
