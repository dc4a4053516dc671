import { Inject, Injectable, Logger } from '@nestjs/common';
import { logTag, randomToken, sha256 } from '../crypto/secrets';
import { OidcError } from '../errors/oidc-error';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { IdentityRepository } from '../repositories/identity.repository';
import { LoginStateStore } from '../stores/login-state.store';
import { validateReturnTo } from '../util/return-to';
import { type BindStart, BindService } from './bind.service';
import { IdpClientService } from './idp-client.service';
import { LoginCompletionService, type TokenSource } from './login-completion.service';
import type { IssuedSession } from './session.service';

export interface LoginStart {
  redirectUrl: string;
  state: string;
  /** The browser-binding secret for the short-lived HttpOnly transaction cookie. */
  browserBinding: string;
}

export type CallbackOutcome =
  | { kind: 'session'; issued: IssuedSession; returnTo: string }
  | { kind: 'bind'; bind: BindStart };

const STATE_SHAPE = /^[A-Za-z0-9_-]{16,128}$/;

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
  ) {}

  async start(returnToParam: string | undefined): Promise<LoginStart> {
    const returnTo = validateReturnTo(returnToParam, {
      allowedHosts: this.options.returnToAllowedHosts,
      allowHttp: this.options.allowInsecureHttp,
    });
    if (returnTo === undefined) {
      throw new OidcError('invalid_return_to', 'return_to must be a relative path or an absolute URL on an allowed host');
    }
    const request = await this.idp.authorizationRequest();
    const browserBinding = randomToken();
    await this.states.save(request.state, sha256(browserBinding), {
      codeVerifier: request.codeVerifier,
      nonce: request.nonce,
      returnTo,
      createdAt: Date.now(),
    });
    this.logger.log({ msg: 'login.started' });
    return { redirectUrl: request.url, state: request.state, browserBinding };
  }

  /**
   * @param query the raw callback query string (validated by openid-client, incl. `iss` when present)
   * @param browserBinding the transaction cookie, if the browser sent it
   */
  async callback(query: URLSearchParams, rawQuery: string, browserBinding: string | undefined, userAgent?: string): Promise<CallbackOutcome> {
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
    const login = { ...(await this.idp.exchangeCode(rawQuery, { state, nonce: tx.nonce, codeVerifier: tx.codeVerifier })), userAgent };
    const tokens: TokenSource = {
      from: 'exchange',
      idToken: login.idToken,
      refreshToken: login.refreshToken,
      accessToken: login.accessToken,
      accessTokenExpiresAt: login.accessTokenExpiresAt,
    };

    const identity = await this.identities.findByIssuerSubject(login.issuer, login.subject);
    if (identity) {
      const issued = await this.completion.loginLinked(identity.userId, identity.id, login, tokens);
      return { kind: 'session', issued, returnTo: tx.returnTo };
    }

    this.logger.log({ msg: 'login.unlinked_identity', policy: this.options.unlinkedIdentity, subTag: logTag(login.subject) });
    switch (this.options.unlinkedIdentity) {
      case 'create': {
        const issued = await this.completion.createAndLogin(login, tokens);
        return { kind: 'session', issued, returnTo: tx.returnTo };
      }
      case 'bind':
        return { kind: 'bind', bind: await this.bind.begin(login, tx.returnTo) };
      case 'reject':
        throw new OidcError('identity_not_linked', 'This OpenID identity is not linked to an account here');
    }
  }
}
