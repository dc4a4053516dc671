export type UnlinkedIdentityPolicy = 'bind' | 'create' | 'reject';

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
  issuer: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  scopes: string;
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
  postLogoutRedirectUri?: string;
  endSessionEndpoint?: string;
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
  /** Compatibility with OPs that predate errata 1: accept a logout token without `exp` when its `iat` is fresh. */
  backchannelAllowMissingExp: boolean;
  /** How old (by `iat`) a logout token without `exp` may be, with the opt-in above. */
  backchannelMaxAgeMs: number;
  /** Per client IP and route, on login, callback and bind routes. */
  rateLimit: RateLimit;
  /** Rejected back-channel logout requests per client IP; past it, 429 until the window ends. Valid ones never count. */
  backchannelRateLimit: RateLimit;
  /** Bind tokens minted per OP identity (issuer, subject) within `bindAccountWindowMs`, then 429. */
  bindMaxTokensPerIdentity: number;
  /** Confirm attempts per client IP within `bindAccountWindowMs`, then 429. */
  bindMaxAttemptsPerIp: number;
}
