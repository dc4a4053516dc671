/**
 * The one place state-store key names are built (Redis or Postgres alike); every key starts with the
 * same prefix.
 *
 * Hash tags: the keys that one operation touches together (a vault owner's tokens, written at once
 * by `setMany` and deleted at once) carry the same `{…}` tag, so that a Redis Cluster puts them in
 * one slot and multi-key commands (MULTI, MGET, DEL) work there. A key's tag is the text between its
 * first `{` and the next `}`; only the vault keys have one, as no other operation spans keys. The
 * Postgres adapter sees the braces as plain characters.
 */
const PREFIX = 'oidc:';

export type VaultTokenKind = 'id_token' | 'refresh_token' | 'access_token';

export const redisKeys = {
  /** Login transaction, keyed by the state and the hash of the browser-binding cookie. */
  loginState: (state: string, bindingHash: string) => `${PREFIX}login:${state}:${bindingHash}`,
  /** An owner's encrypted token; every kind of one owner shares the hash tag `{<owner>}` (one Cluster slot). */
  vault: (ownerId: string, kind: VaultTokenKind) => `${PREFIX}vault:${hashTag(ownerId)}:${kind}`,
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

/**
 * `{value}`: a Redis Cluster hash tag. Braces inside the value would end or restart the tag, and no
 * owner id has them (UUIDs, hex hashes); refusing them keeps "one owner, one slot" true.
 */
function hashTag(value: string): string {
  if (/[{}]/.test(value)) throw new RangeError('A hash-tagged key part must not contain { or }');
  return `{${value}}`;
}

/**
 * The part of a key that picks its Redis Cluster slot, by Redis's rule: the text between the first
 * `{` and the next `}` when it is not empty, else the whole key. Keys with equal slot parts share a slot.
 */
export function slotPart(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}
