import { Injectable, Logger } from '@nestjs/common';
import { TokenCipher } from '../crypto/token-cipher';
import { redisKeys, type VaultTokenKind } from './redis-keys';
import { StateStore } from './state-store';

const KINDS: VaultTokenKind[] = ['id_token', 'refresh_token', 'access_token'];

/** A read of one token: whether anything is stored, and the token if it decrypts. */
export interface VaultRead {
  stored: boolean;
  token: string | undefined;
}

export interface VaultEntry {
  kind: VaultTokenKind;
  token: string;
  ttlMs: number;
}

/**
 * The encrypted token vault: a session's id_token, refresh token and access token in the state
 * store, AES-256-GCM with the owner (session id or bind token hash) and the token kind as associated
 * data. Keyed by session, never by user. A value that fails to decrypt is treated as missing and
 * logged as such.
 */
@Injectable()
export class TokenVaultStore {
  private readonly logger = new Logger('TokenVault');

  constructor(
    private readonly state: StateStore,
    private readonly cipher: TokenCipher,
  ) {}

  /** Stores a token; the TTL never reaches past `notAfter` (the session's expiry). */
  async put(owner: string, kind: VaultTokenKind, token: string, ttlMs: number, notAfter?: Date): Promise<void> {
    const ttl = Math.floor(Math.min(ttlMs, notAfter ? notAfter.getTime() - Date.now() : ttlMs));
    if (ttl <= 0) return;
    await this.state.set(redisKeys.vault(owner, kind), this.cipher.encrypt(token, aad(owner, kind)), ttl);
  }

  /** Stores several tokens of one owner at once (atomically): a reader sees all of them or none. */
  async putAll(owner: string, entries: VaultEntry[], notAfter: Date): Promise<void> {
    const writes = entries
      .map(({ kind, token, ttlMs }) => ({ kind, token, ttlMs: Math.floor(Math.min(ttlMs, notAfter.getTime() - Date.now())) }))
      .filter((entry) => entry.ttlMs > 0)
      .map(({ kind, token, ttlMs }) => ({ key: redisKeys.vault(owner, kind), value: this.cipher.encrypt(token, aad(owner, kind)), ttlMs }));
    await this.state.setMany(writes);
  }

  /** Reads a token without taking it. */
  async get(owner: string, kind: VaultTokenKind): Promise<string | undefined> {
    return (await this.peek(owner, kind)).token;
  }

  /** Reads a token, and says whether anything was stored (a value that does not decrypt is stored, yet no token). */
  async peek(owner: string, kind: VaultTokenKind): Promise<VaultRead> {
    const stored = await this.state.get(redisKeys.vault(owner, kind));
    return { stored: stored !== undefined, token: this.open(owner, kind, stored) };
  }

  /** `peek` for one kind of token of several owners, in one read (same order as `owners`). */
  async peekMany(owners: string[], kind: VaultTokenKind): Promise<VaultRead[]> {
    if (owners.length === 0) return [];
    const stored = await this.state.mget(owners.map((owner) => redisKeys.vault(owner, kind)));
    return owners.map((owner, i) => ({ stored: stored[i] !== undefined, token: this.open(owner, kind, stored[i]) }));
  }

  /** Reads and deletes in one step (get-and-delete): two concurrent takes never both get the token. */
  async take(owner: string, kind: VaultTokenKind): Promise<string | undefined> {
    return this.open(owner, kind, await this.state.getAndDelete(redisKeys.vault(owner, kind)));
  }

  /** Deletes these kinds of token of these owners. */
  async deleteKinds(owners: string[], kinds: VaultTokenKind[]): Promise<void> {
    if (owners.length === 0) return;
    await this.state.delete(owners.flatMap((owner) => kinds.map((kind) => redisKeys.vault(owner, kind))));
  }

  /** Deletes every token of these owners. */
  async deleteAll(owners: string[]): Promise<void> {
    await this.deleteKinds(owners, KINDS);
  }

  /**
   * Moves the tokens stashed under `from` (a bind token) to `to` (the new session), re-encrypting
   * them for their new owner. The source is consumed.
   */
  async move(from: string, to: string, ttlMs: Record<'id_token' | 'refresh_token', number>, notAfter: Date): Promise<VaultTokenKind[]> {
    const moved: VaultTokenKind[] = [];
    for (const kind of KINDS) {
      const token = await this.take(from, kind);
      if (token === undefined) continue;
      // An access token keeps the TTL of its own lifetime.
      const ttl = kind === 'access_token' ? readAccessToken(token).expiresAt - Date.now() : ttlMs[kind];
      await this.put(to, kind, token, ttl, notAfter);
      moved.push(kind);
    }
    return moved;
  }

  private open(owner: string, kind: VaultTokenKind, stored: string | undefined): string | undefined {
    if (stored === undefined) return undefined;
    const token = this.cipher.decrypt(stored, aad(owner, kind));
    if (token === undefined) {
      this.logger.warn({ msg: 'vault.undecryptable', owner, tokenKind: kind, keyId: this.cipher.keyIdOf(stored) });
    }
    return token;
  }
}

function aad(owner: string, kind: VaultTokenKind): string {
  return `${owner}:${kind}`;
}

/** How long to assume an access token lives when the OP does not say (`expires_in` missing). */
const UNKNOWN_ACCESS_TOKEN_LIFETIME_MS = 5 * 60_000;

/**
 * The vault entry of an access token: its expiry and lifetime travel with it
 * (`<expiresAtMs>.<lifetimeMs>.<token>`), TTL = its lifetime.
 */
export function accessTokenEntry(accessToken: string, expiresAt: number | null): VaultEntry {
  const at = expiresAt ?? Date.now() + UNKNOWN_ACCESS_TOKEN_LIFETIME_MS;
  const lifetime = Math.max(0, at - Date.now());
  return { kind: 'access_token', token: `${at}.${lifetime}.${accessToken}`, ttlMs: lifetime };
}

export function readAccessToken(stored: string): { token: string; expiresAt: number; lifetimeMs: number } {
  const first = stored.indexOf('.');
  const second = stored.indexOf('.', first + 1);
  return { expiresAt: Number(stored.slice(0, first)), lifetimeMs: Number(stored.slice(first + 1, second)), token: stored.slice(second + 1) };
}
