export type UnlinkedIdentityPolicy = 'bind' | 'create' | 'reject';

/** Where login state, bind sessions, the token vault, counters and markers live. */
export type StateStoreKind = 'redis' | 'postgres';

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
  redisUrl?: string;
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
}
