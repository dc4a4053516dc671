import { Inject, Injectable, Logger } from '@nestjs/common';
import type { webcrypto } from 'node:crypto';
import { importJWK, type JWK } from 'jose';
import * as client from 'openid-client';
import { OidcError } from '../errors/oidc-error';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions, OidcProviderOptions } from '../oidc.options';
import { isSecureUrl } from '../util/secure-url';

export interface AuthorizationRequest {
  url: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** Who the OP says logged in, from the verified ID token (and UserInfo for missing profile claims). */
export interface VerifiedIdentity {
  /** The configured provider this login went through. */
  providerId: string;
  issuer: string;
  subject: string;
  /** The OP session id, from the verified ID token only. */
  sid: string | null;
  /** The ID token's `iat` (seconds, the OP's clock): back-channel logouts are ordered against it. */
  issuedAt: number;
  /** When the user authenticated at the OP (`auth_time`, seconds), if the ID token says. */
  authTime: number | null;
  /** The authentication context class the OP reports (`acr`), if any. */
  acr: string | null;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
}

/** The OAuth tokens a login or a refresh yields. */
export interface TokenSet {
  accessToken: string | null;
  /** When the access token expires (ms since epoch); from `expires_in`. */
  accessTokenExpiresAt: number | null;
  refreshToken: string | null;
}

export interface VerifiedLogin extends VerifiedIdentity, TokenSet {
  idToken: string;
}

/** A refresh grant's result: new tokens, and a new id_token when the OP sent one (verified). */
export interface RefreshedTokens extends TokenSet {
  accessToken: string;
  idToken: string | null;
}

/** How long a health probe of the OP is reused. */
const PROBE_CACHE_MS = 15_000;

export type EndSessionSupport = { enabled: true; endpoint: string } | { enabled: false; reason: string };

/** Authorization request parameters a login may add (validated by the caller against an allowlist). */
export type ExtraAuthorizationParams = Record<string, string>;

interface SharedSettings {
  allowInsecureHttp: boolean;
  httpTimeoutMs: number;
  clockToleranceSec: number;
}

/**
 * Every call to one OpenID Provider, through `openid-client`. Discovery runs once and is cached; a
 * failed discovery is retried on the next call. The client authenticates with this provider's method
 * (`client_secret_basic`, `client_secret_post` or `private_key_jwt`).
 */
export class ProviderClient {
  private readonly logger: Logger;
  private configuration?: Promise<client.Configuration>;
  private readonly jwksUris = new WeakMap<client.Configuration, string>();
  private endSessionLogged = false;
  private lastProbe?: { at: number; result: Promise<void> };

  constructor(
    readonly options: OidcProviderOptions,
    private readonly shared: SharedSettings,
  ) {
    this.logger = new Logger(`IdpClient:${options.id}`);
  }

  get id(): string {
    return this.options.id;
  }

  get issuer(): string {
    return this.options.issuer;
  }

  /** The discovered configuration (cached). */
  async config(): Promise<client.Configuration> {
    if (!this.configuration) {
      this.configuration = this.discover();
      this.configuration.catch(() => {
        this.configuration = undefined;
      });
    }
    return this.configuration;
  }

  /**
   * A new authorization request (PKCE S256, state, nonce). Pushed to the OP first (PAR, RFC 9126) when
   * it advertises a PAR endpoint (`par: auto`) or when the provider requires it.
   */
  async authorizationRequest(extra: ExtraAuthorizationParams = {}): Promise<AuthorizationRequest> {
    const config = await this.config();
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const parameters: Record<string, string> = {
      ...extra,
      redirect_uri: this.options.redirectUri,
      scope: this.options.scopes,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    };
    const { pushed_authorization_request_endpoint: parEndpoint, require_pushed_authorization_requests: opRequiresPar } = config.serverMetadata();
    const pushed = this.options.par === 'required' || (this.options.par === 'auto' && (Boolean(parEndpoint) || opRequiresPar === true));
    if (!pushed) return { url: client.buildAuthorizationUrl(config, parameters).href, state, nonce, codeVerifier };
    if (!parEndpoint) {
      throw new OidcError('provider_unavailable', 'The OpenID Provider publishes no pushed_authorization_request_endpoint, which this provider requires (par: required)');
    }
    try {
      const url = await client.buildAuthorizationUrlWithPAR(config, parameters);
      return { url: url.href, state, nonce, codeVerifier };
    } catch (error) {
      // Whatever the OP answers (invalid_client from a wrong secret or key, a 5xx, a timeout), the user
      // can do nothing about it: retryable for them, logged with the OP's error code for the operator.
      throw new OidcError('provider_unavailable', 'The OpenID Provider did not accept the pushed authorization request; retry later', {
        reason: describe(error),
        opError: error instanceof client.ResponseBodyError ? safeOAuthCode(error.error) : undefined,
      });
    }
  }

  /**
   * Validates the authorization response (state, `iss` when present, `error=`), exchanges the code
   * with the PKCE verifier and validates the ID token (signature, iss, aud, exp, nonce). With
   * `maxAge`, the ID token must carry an `auth_time` no older than that (OIDC Core 3.1.2.1).
   */
  async exchangeCode(
    callbackQuery: string,
    checks: { state: string; nonce: string; codeVerifier: string; maxAge?: number },
  ): Promise<VerifiedLogin> {
    const config = await this.config();
    const currentUrl = new URL(this.options.redirectUri);
    currentUrl.search = callbackQuery;
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(
        config,
        currentUrl,
        {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          idTokenExpected: true,
          ...(checks.maxAge !== undefined ? { maxAge: checks.maxAge } : {}),
        },
        { redirect_uri: this.options.redirectUri },
      );
    } catch (error) {
      throw this.mapError(error);
    }
    const claims = tokens.claims();
    if (!claims || !tokens.id_token) throw new OidcError('code_exchange_failed', 'The OpenID Provider returned no ID token');
    // An auth_time in the future would satisfy every max_age and step-up requirement forever.
    if (typeof claims.auth_time === 'number' && claims.auth_time > Date.now() / 1000 + this.shared.clockToleranceSec) {
      throw new OidcError('code_exchange_failed', 'The ID token auth_time is in the future', { reason: 'auth_time_in_future' });
    }
    // Many OPs put profile claims only in UserInfo (OIDC Core 5.4); the subject must match the ID token's.
    const profile = claims.email === undefined ? await this.userInfo(config, tokens.access_token, claims.sub) : {};
    const merged = { ...profile, ...claims };
    return {
      providerId: this.options.id,
      issuer: claims.iss,
      subject: claims.sub,
      // sid comes from the verified ID token only, never from the token response.
      sid: typeof claims.sid === 'string' && claims.sid ? claims.sid : null,
      issuedAt: claims.iat,
      authTime: typeof claims.auth_time === 'number' ? claims.auth_time : null,
      acr: typeof claims.acr === 'string' && claims.acr ? claims.acr : null,
      email: typeof merged.email === 'string' ? merged.email.toLowerCase() : null,
      emailVerified: merged.email_verified === true,
      name: typeof merged.name === 'string' ? merged.name : null,
      idToken: tokens.id_token,
      ...tokenSet(tokens),
    };
  }

  /**
   * The refresh grant (through openid-client; a new id_token in the response is verified). The OP
   * rejecting the refresh token (`invalid_grant`: revoked, expired, reused) is `refresh_failed`; an
   * unreachable or failing OP is `service_unavailable` (retryable, the session stays).
   */
  async refresh(refreshToken: string): Promise<RefreshedTokens> {
    const config = await this.config().catch(() => {
      throw new OidcError('service_unavailable', 'The OpenID Provider could not be reached to refresh the access token; retry later');
    });
    let tokens: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
    try {
      tokens = await client.refreshTokenGrant(config, refreshToken);
    } catch (error) {
      if (error instanceof client.ResponseBodyError && error.error === 'invalid_grant') {
        throw new OidcError('refresh_failed', 'The OpenID Provider no longer accepts this session\'s refresh token; sign in again', {
          opError: safeOAuthCode(error.error),
        });
      }
      throw new OidcError('service_unavailable', 'The OpenID Provider could not refresh the access token; retry later', { reason: describe(error) });
    }
    if (!tokens.access_token) throw new OidcError('service_unavailable', 'The OpenID Provider returned no access token; retry later');
    return { ...tokenSet(tokens), accessToken: tokens.access_token, idToken: tokens.id_token ?? null };
  }

  /** Calls the OP's UserInfo endpoint with an access token; the subject must match the session's. */
  async fetchUserInfo(accessToken: string, expectedSubject: string): Promise<Record<string, unknown>> {
    const config = await this.config();
    try {
      return await client.fetchUserInfo(config, accessToken, expectedSubject);
    } catch (error) {
      if (error instanceof client.WWWAuthenticateChallengeError || error instanceof client.ResponseBodyError) {
        throw new OidcError('provider_error', 'The OpenID Provider refused the UserInfo request', { reason: describe(error) });
      }
      throw new OidcError('service_unavailable', 'The OpenID Provider UserInfo endpoint could not be reached; retry later', { reason: describe(error) });
    }
  }

  private async userInfo(config: client.Configuration, accessToken: string, subject: string): Promise<Record<string, unknown>> {
    if (!config.serverMetadata().userinfo_endpoint || !accessToken) return {};
    try {
      return await client.fetchUserInfo(config, accessToken, subject);
    } catch (error) {
      this.logger.warn({ msg: 'userinfo.failed', reason: describe(error) });
      return {};
    }
  }

  /**
   * Whether RP-Initiated Logout can produce a URL: a post-logout redirect is configured and an
   * end-session endpoint (override, else discovery) passes the https check.
   */
  async endSessionSupport(): Promise<EndSessionSupport> {
    const support = await this.resolveEndSessionSupport();
    if (!this.endSessionLogged) {
      this.endSessionLogged = true;
      if (support.enabled) this.logger.log({ msg: 'rp_initiated_logout.enabled', provider: this.id });
      else this.logger.log({ msg: 'rp_initiated_logout.disabled', provider: this.id, reason: support.reason });
    }
    return support;
  }

  private async resolveEndSessionSupport(): Promise<EndSessionSupport> {
    if (!this.options.postLogoutRedirectUri) {
      return { enabled: false, reason: 'OIDC_POST_LOGOUT_REDIRECT_URI is not set' };
    }
    const endpoint = this.options.endSessionEndpoint ?? (await this.config()).serverMetadata().end_session_endpoint;
    if (!endpoint) {
      return { enabled: false, reason: 'the OpenID Provider publishes no end_session_endpoint and none is configured (OIDC_END_SESSION_ENDPOINT)' };
    }
    if (!isSecureUrl(endpoint, this.shared.allowInsecureHttp)) {
      return { enabled: false, reason: 'the end-session endpoint is not an https URL (set OIDC_ALLOW_INSECURE_HTTP=true only for local http)' };
    }
    return { enabled: true, endpoint };
  }

  /** The RP-Initiated Logout URL for this id_token. The caller must have checked `endSessionSupport()`. */
  async endSessionUrl(endpoint: string, idToken: string): Promise<string> {
    const discovered = await this.config();
    const { supportsPKCE: _helper, ...metadata } = discovered.serverMetadata();
    let config = discovered;
    if (metadata.end_session_endpoint !== endpoint) {
      config = new client.Configuration({ ...metadata, end_session_endpoint: endpoint }, this.options.clientId);
      if (this.shared.allowInsecureHttp) client.allowInsecureRequests(config);
    }
    return client
      .buildEndSessionUrl(config, {
        id_token_hint: idToken,
        post_logout_redirect_uri: this.options.postLogoutRedirectUri ?? '',
        client_id: this.options.clientId,
      })
      .toString();
  }

  /** Revokes a refresh token when the OP has a revocation endpoint. Returns whether it was sent. */
  async revokeRefreshToken(refreshToken: string): Promise<boolean> {
    const config = await this.config();
    if (!config.serverMetadata().revocation_endpoint) return false;
    await client.tokenRevocation(config, refreshToken, { token_type_hint: 'refresh_token' });
    return true;
  }

  /**
   * Fetches the discovery document again (not the cache), for health checks; at most once per
   * `PROBE_CACHE_MS` whatever the request rate (one probe in flight, its result shared), so that
   * anonymous health requests never make the app hammer its OP.
   */
  async probe(): Promise<void> {
    if (!this.lastProbe || Date.now() - this.lastProbe.at > PROBE_CACHE_MS) {
      const result = client
        .discovery(new URL(this.options.issuer), this.options.clientId, undefined, client.None(), {
          execute: this.shared.allowInsecureHttp ? [client.allowInsecureRequests] : [],
          timeout: 3,
        })
        .then((config) => {
          if (config.serverMetadata().issuer !== this.options.issuer) throw new Error('issuer mismatch');
        });
      result.catch(() => undefined);
      this.lastProbe = { at: Date.now(), result };
    }
    return this.lastProbe.result;
  }

  /** The OP's JWKS URI from discovery, for logout-token verification. */
  async jwksUri(): Promise<string> {
    const config = await this.config();
    // Read once per discovered configuration: serverMetadata() copies the whole document on every call,
    // and this runs on every back-channel logout.
    let jwksUri = this.jwksUris.get(config);
    if (jwksUri === undefined) {
      jwksUri = config.serverMetadata().jwks_uri;
      if (jwksUri) this.jwksUris.set(config, jwksUri);
    }
    if (!jwksUri) throw new OidcError('provider_unavailable', 'The OpenID Provider publishes no jwks_uri');
    return jwksUri;
  }

  private async discover(): Promise<client.Configuration> {
    const started = Date.now();
    try {
      const config = await client.discovery(new URL(this.options.issuer), this.options.clientId, undefined, await this.clientAuthentication(), {
        execute: this.shared.allowInsecureHttp ? [client.allowInsecureRequests] : [],
        // Every later call through this configuration (token, UserInfo, revocation) gets the same timeout.
        timeout: this.timeoutSeconds(),
      });
      // Sessions, logout tokens and the provider registry compare issuers as exact strings, as ID tokens
      // carry them: a configured issuer spelled differently from the OP's own (a trailing slash, case)
      // would leave every session without its provider and every logout token refused.
      const announced = config.serverMetadata().issuer;
      if (announced !== this.options.issuer) {
        this.logger.error({
          msg: 'discovery.issuer_mismatch',
          provider: this.id,
          issuer: this.options.issuer,
          announced,
          detail: 'set the issuer exactly as the OP announces it in its discovery document',
        });
        throw new OidcError('provider_unavailable', 'The OpenID Provider announces another issuer than the one configured');
      }
      this.logger.log({ msg: 'discovery.ok', provider: this.id, issuer: this.options.issuer, ms: Date.now() - started });
      return config;
    } catch (error) {
      if (error instanceof OidcError) throw error;
      this.logger.error({ msg: 'discovery.failed', provider: this.id, issuer: this.options.issuer, reason: describe(error) });
      throw new OidcError('provider_unavailable', 'The OpenID Provider could not be reached');
    }
  }

  private async clientAuthentication(): Promise<client.ClientAuth> {
    switch (this.options.clientAuth) {
      case 'client_secret_basic':
        return client.ClientSecretBasic(this.options.clientSecret ?? '');
      case 'client_secret_post':
        return client.ClientSecretPost(this.options.clientSecret ?? '');
      case 'private_key_jwt': {
        const jwk = this.options.clientSigningKey?.jwk;
        if (!jwk?.kid) throw new Error('private_key_jwt needs a signing key with a kid');
        const key = await importJWK(jwk as JWK, jwk.alg ?? defaultAlgorithm(jwk));
        return client.PrivateKeyJwt({ key: key as webcrypto.CryptoKey, kid: jwk.kid });
      }
    }
  }

  private timeoutSeconds(): number {
    return Math.max(1, Math.round(this.shared.httpTimeoutMs / 1000));
  }

  private mapError(error: unknown): OidcError {
    if (error instanceof OidcError) return error;
    if (error instanceof client.AuthorizationResponseError) {
      const code = error.error === 'access_denied' ? 'access_denied' : 'provider_error';
      return new OidcError(code, `The OpenID Provider answered: ${safeOAuthCode(error.error)}`, { opError: safeOAuthCode(error.error) });
    }
    if (error instanceof client.ResponseBodyError) {
      return new OidcError('code_exchange_failed', `The OpenID Provider rejected the request: ${safeOAuthCode(error.error)}`, {
        opError: safeOAuthCode(error.error),
      });
    }
    const name = (error as Error)?.name;
    const code = (error as { code?: string })?.code;
    if (name === 'TypeError' || name === 'AbortError' || name === 'TimeoutError' || code === 'OAUTH_TIMEOUT') {
      return new OidcError('provider_unavailable', 'The OpenID Provider could not be reached', { reason: describe(error) });
    }
    return new OidcError('code_exchange_failed', 'The login response failed validation', { reason: describe(error), errorCode: code });
  }
}

/**
 * The registry of OpenID Providers (one `ProviderClient` each, discovery and keys cached per provider).
 * A session's provider is found by its issuer (issuers are distinct across providers).
 */
@Injectable()
export class IdpClientService {
  private readonly byId = new Map<string, ProviderClient>();
  private readonly byIssuer = new Map<string, ProviderClient>();
  /** Allowed clock difference with the OPs (seconds). */
  readonly clockToleranceSec: number;

  constructor(@Inject(OIDC_MODULE_OPTIONS) options: OidcModuleOptions) {
    this.clockToleranceSec = options.clockToleranceSec;
    const shared = { allowInsecureHttp: options.allowInsecureHttp, httpTimeoutMs: options.httpTimeoutMs, clockToleranceSec: options.clockToleranceSec };
    for (const provider of options.providers) {
      const providerClient = new ProviderClient(provider, shared);
      this.byId.set(provider.id, providerClient);
      this.byIssuer.set(provider.issuer, providerClient);
    }
  }

  all(): ProviderClient[] {
    return [...this.byId.values()];
  }

  find(id: string): ProviderClient | undefined {
    return this.byId.get(id);
  }

  /** The provider with this id. @throws OidcError `unknown_provider` (400). */
  get(id: string): ProviderClient {
    const found = this.byId.get(id);
    if (!found) throw new OidcError('unknown_provider', 'No OpenID Provider is configured with this id');
    return found;
  }

  /** The provider a session (or identity) came from. */
  forIssuer(issuer: string): ProviderClient | undefined {
    return this.byIssuer.get(issuer);
  }

  /** Probes every provider's discovery (each cached for 15 s); resolves once all answered or failed. */
  async probeAll(): Promise<Record<string, 'up' | 'down'>> {
    const results = await Promise.allSettled(this.all().map((p) => p.probe()));
    return Object.fromEntries(this.all().map((p, i) => [p.id, results[i].status === 'fulfilled' ? 'up' : 'down']));
  }

  /** The provider a login uses when none is named: `default`, else the only one. */
  defaultProvider(): ProviderClient | undefined {
    return this.byId.get('default') ?? (this.byId.size === 1 ? this.all()[0] : undefined);
  }
}

function defaultAlgorithm(jwk: JWK): string {
  if (jwk.kty === 'EC') return jwk.crv === 'P-384' ? 'ES384' : jwk.crv === 'P-521' ? 'ES512' : 'ES256';
  if (jwk.kty === 'OKP') return 'EdDSA';
  return 'RS256';
}

function tokenSet(tokens: { access_token?: string; expires_in?: number; refresh_token?: string }): TokenSet {
  const lifetime = typeof tokens.expires_in === 'number' && tokens.expires_in > 0 ? tokens.expires_in : undefined;
  return {
    accessToken: tokens.access_token || null,
    accessTokenExpiresAt: lifetime ? Date.now() + lifetime * 1000 : null,
    refreshToken: tokens.refresh_token ?? null,
  };
}

/** Error codes are `[A-Za-z0-9_]` by RFC 6749; anything else is not echoed. */
function safeOAuthCode(value: string): string {
  return /^[\w.-]{1,64}$/.test(value) ? value : 'unknown_error';
}

function describe(error: unknown): string {
  const e = error as { name?: string; code?: string; message?: string };
  return [e?.name, e?.code, e?.message].filter(Boolean).join(': ');
}
