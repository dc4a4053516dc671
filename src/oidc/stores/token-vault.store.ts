import { Injectable, Logger } from '@nestjs/common';
import { TokenCipher } from '../crypto/token-cipher';
import { redisKeys, type VaultTokenKind } from './redis-keys';
import { StateStore } from './state-store';

const KINDS: VaultTokenKind[] = ['id_token', 'refresh_token'];

/**
 * The encrypted token vault: a session's id_token and refresh token in the state store, AES-256-GCM
 * with the owner (session id or bind token hash) and the token kind as associated data. Keyed by
 * session, never by user. A value that fails to decrypt is treated as missing and logged as such.
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

  /** Reads and deletes in one step (get-and-delete): two concurrent takes never both get the token. */
  async take(owner: string, kind: VaultTokenKind): Promise<string | undefined> {
    return this.open(owner, kind, await this.state.getAndDelete(redisKeys.vault(owner, kind)));
  }

  /** Deletes every token of these owners. */
  async deleteAll(owners: string[]): Promise<void> {
    if (owners.length === 0) return;
    await this.state.delete(owners.flatMap((owner) => KINDS.map((kind) => redisKeys.vault(owner, kind))));
  }

  /**
   * Moves the tokens stashed under `from` (a bind token) to `to` (the new session), re-encrypting
   * them for their new owner. The source is consumed.
   */
  async move(from: string, to: string, ttlMs: Record<VaultTokenKind, number>, notAfter: Date): Promise<VaultTokenKind[]> {
    const moved: VaultTokenKind[] = [];
    for (const kind of KINDS) {
      const token = await this.take(from, kind);
      if (token === undefined) continue;
      await this.put(to, kind, token, ttlMs[kind], notAfter);
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
