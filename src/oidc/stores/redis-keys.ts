/** The one place state-store key names are built (Redis or Postgres alike); every key starts with the same prefix. */
const PREFIX = 'oidc:';

export type VaultTokenKind = 'id_token' | 'refresh_token' | 'access_token';

export const redisKeys = {
  /** Login transaction, keyed by the state and the hash of the browser-binding cookie. */
  loginState: (state: string, bindingHash: string) => `${PREFIX}login:${state}:${bindingHash}`,
  /** A session's encrypted token. */
  vault: (ownerId: string, kind: VaultTokenKind) => `${PREFIX}vault:${ownerId}:${kind}`,
  bindSession: (tokenHash: string) => `${PREFIX}bind:${tokenHash}`,
  bindLock: (tokenHash: string) => `${PREFIX}bind-lock:${tokenHash}`,
  /** A rate-limit counter: the throttler's key (a hash of route and client) and the window's number. */
  rateLimit: (key: string, windowMs: number, window: number) => `${PREFIX}rate:${key}:${windowMs}:${window}`,
  /** Single flight of a session's refresh grant, across instances. */
  refreshLock: (sessionId: string) => `${PREFIX}refresh-lock:${sessionId}`,
  bindAttemptsByToken: (tokenHash: string) => `${PREFIX}bind-attempts:token:${tokenHash}`,
  bindAttemptsByAccount: (identifierHash: string) => `${PREFIX}bind-attempts:account:${identifierHash}`,
  bindAttemptsByIp: (ipHash: string) => `${PREFIX}bind-attempts:ip:${ipHash}`,
  bindTokensByIdentity: (identityHash: string) => `${PREFIX}bind-tokens:identity:${identityHash}`,
  logoutJti: (issuerHash: string, jtiHash: string) => `${PREFIX}bcl-jti:${issuerHash}:${jtiHash}`,
  prefix: PREFIX,
} as const;

/** Vault owners: a session id, or a bind token (hashed) while the identity is not yet linked. */
export const vaultOwner = {
  session: (sessionId: string) => `session:${sessionId}`,
  bind: (bindTokenHash: string) => `bind:${bindTokenHash}`,
};
