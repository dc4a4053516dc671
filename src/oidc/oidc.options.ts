import type { JWK } from 'jose';

export type UnlinkedIdentityPolicy = 'bind' | 'create' | 'reject';

/** How the RP authenticates to the OP's token, revocation and PAR endpoints. */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** Whether the authorization request is pushed first (RFC 9126): when the OP advertises PAR, never, or always. */
export type ParMode = 'auto' | 'off' | 'required';

/** A private JWK (RSA, EC or OKP) that signs the `private_key_jwt` client assertions. */
export interface ClientSigningKey {
  /** A private JWK with `kid`; `alg` defaults from the key type (RS256, ES256…). */
  jwk: JWK & { kid?: string; alg?: string };
}

/** One OpenID Provider this app accepts logins from (the single-provider variables become `default`). */
export interface OidcProviderOptions {
  /** `[a-z0-9-]{1,32}`: in routes (`/auth/oidc/callback/<id>`), logs and metrics. */
  id: string;
  /** Shown on a login page (`GET /auth/oidc/providers`). */
  displayName: string;
  issuer: string;
  clientId: string;
  /** Required for `client_secret_basic` / `client_secret_post`. */
  clientSecret?: string;
  clientAuth: ClientAuthMethod;
  /** Required for `private_key_jwt`. */
  clientSigningKey?: ClientSigningKey;
  /** This provider's callback: `…/auth/oidc/callback/<id>` (provider `default` may use `…/auth/oidc/callback`). */
  redirectUri: string;
  scopes: string;
  postLogoutRedirectUri?: string;
  endSessionEndpoint?: string;
  par: ParMode;
  /** Compatibility with OPs that predate errata 1: accept a logout token without `exp` when its `iat` is fresh. */
  backchannelAllowMissingExp: boolean;
  /** How old (by `iat`) a logout token without `exp` may be, with the opt-in above. */
  backchannelMaxAgeMs: number;
  /**
   * Front-Channel Logout: also end the live sessions of (iss, sid) server-side when the request carries
   * no session cookie (the cookie does not reach a cross-site iframe). Anyone who learns a sid can then
   * end that session: a logout, never a sign-in.
   */
  frontchannelLogoutWithoutCookie: boolean;
}

/** Where login state, bind sessions, the token vault, counters and markers live. */
export type StateStoreKind = 'redis' | 'postgres';

/** At most `limit` requests per `windowMs` (0 = no limit). */
export interface RateLimit {
  limit: number;
  windowMs: number;
}

/** A Redis host and port (a Sentinel or a Cluster node). */
export interface RedisHost {
  host: string;
  port: number;
}

/**
 * Where the Redis state store connects: one node (`redis://`, `rediss://`, passed to ioredis as is),
 * a master found through Sentinel, or a Cluster (seed nodes; the rest is discovered). Credentials of
 * Sentinel and Cluster authenticate to the data nodes (the master and replicas, the Cluster nodes).
 */
export type RedisConnection =
  | { kind: 'single'; url: string }
  | { kind: 'sentinel'; sentinels: RedisHost[]; name: string; db: number; username?: string; password?: string }
  | { kind: 'cluster'; nodes: RedisHost[]; username?: string; password?: string };

export interface EncryptionKey {
  /** Key id written into every stored value, so rotation knows which key decrypts it. */
  id: string;
  /** 32 raw bytes (AES-256). */
  key: Buffer;
}

/**
 * Everything `OidcModule` needs, already parsed and validated by the host's config layer
 * (see `src/config/app-config.ts` for the environment mapping used by the demo app).
 */
export interface OidcModuleOptions {
  /** At least one; ids and issuers are distinct, every redirect URI is on one origin and one path prefix. */
  providers: OidcProviderOptions[];
  /** Allows an http issuer and http logout URLs; local development and tests only. */
  allowInsecureHttp: boolean;
  stateStore: StateStoreKind;
  /** Required when `stateStore` is `redis`. */
  redis?: RedisConnection;
  /** A Redis command that gets no answer within this time fails (503) instead of holding the request. */
  redisCommandTimeoutMs: number;
  /** The first key encrypts; every key decrypts. */
  tokenEncryptionKeys: EncryptionKey[];
  idTokenTtlMs: number;
  returnToAllowedHosts: string[];
  unlinkedIdentity: UnlinkedIdentityPolicy;
  bindPageUrl?: string;
  bindTokenTtlMs: number;
  bindAllowCreate: boolean;
  /** Failed-or-not confirm attempts allowed per bind token, then 429. */
  bindMaxAttemptsPerToken: number;
  /** Confirm attempts allowed per local account within `bindAccountWindowMs`, then 429. */
  bindMaxAttemptsPerAccount: number;
  bindAccountWindowMs: number;
  loginErrorUrl?: string;
  sessionTtlMs: number;
  sessionCookieName: string;
  /** Cookie `Secure` flag; the config layer sets it unless the app runs on plain http. */
  cookieSecure: boolean;
  /** Clock tolerance for logout tokens. */
  clockToleranceSec: number;
  /**
   * Origins (besides the one of `redirectUri`) whose browsers may call the state-changing routes;
   * `scheme://host[:port]`, lower case.
   */
  allowedOrigins: string[];
  /** A session unused for this long answers 401 and is revoked (`idle_timeout`); 0 = no idle timeout. */
  sessionIdleTimeoutMs: number;
  /** Sessions expired or revoked longer ago than this are deleted by the purge job. */
  sessionRetentionMs: number;
  /** How often the purge job runs (expired sessions, old rows, seen logout-token ids). */
  purgeIntervalMs: number;
  /** How often revoked sessions whose tokens could not be dropped (state store down) are retried. */
  outboxRetryIntervalMs: number;
  /** An access token expiring within this time is refreshed before it is handed out. */
  accessTokenRefreshSkewMs: number;
  /** Timeout of every HTTP call to the OpenID Provider. */
  httpTimeoutMs: number;
  /** Per client IP and route, on login, callback and bind routes. */
  rateLimit: RateLimit;
  /** Rejected back-channel logout requests per client IP; past it, 429 until the window ends. Valid ones never count. */
  backchannelRateLimit: RateLimit;
  /**
   * On an Express host, serve the back-channel logout paths ahead of the host's HTTP stack (the same
   * endpoint, without Express routing: ≈ 1.4× the logouts per core). Off by default: the host's
   * app-wide middleware, global guards and interceptors do not run on these two paths then (middleware
   * or routes mounted on the paths themselves keep it off). See `BackchannelDirectPath`.
   */
  backchannelDirectPath?: boolean;
  /** Bind tokens minted per OP identity (issuer, subject) within `bindAccountWindowMs`, then 429. */
  bindMaxTokensPerIdentity: number;
  /**
   * Linking or unlinking an identity needs a session whose user authenticated at the OP at most this
   * long ago (`auth_time`); otherwise the user re-authenticates first (step-up).
   */
  identityChangeMaxAuthAgeMs: number;
  /** Confirm attempts per client IP within `bindAccountWindowMs`, then 429. */
  bindMaxAttemptsPerIp: number;
}
