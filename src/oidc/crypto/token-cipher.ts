import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { EncryptionKey } from '../oidc.options';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM for tokens at rest. The only place in the codebase that encrypts.
 *
 * Stored form: `v1.<kid>.<iv>.<ciphertext>.<tag>` (base64url parts). The caller passes associated
 * data that binds the value to where it is stored (the session id and the token kind), so a value
 * copied under another session's key fails to decrypt.
 */
export class TokenCipher {
  private readonly byId: Map<string, Buffer>;
  private readonly current: EncryptionKey;

  constructor(keys: EncryptionKey[]) {
    if (keys.length === 0) throw new Error('TokenCipher needs at least one key');
    for (const k of keys) {
      if (k.key.length !== 32) throw new Error(`encryption key "${k.id}" must be 32 bytes`);
    }
    this.current = keys[0];
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  encrypt(plaintext: string, associatedData: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(associatedData, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, this.current.id, b64(iv), b64(body), b64(cipher.getAuthTag())].join('.');
  }

  /** Returns the plaintext, or `undefined` when the value is malformed, its key unknown or it fails to authenticate. */
  decrypt(stored: string, associatedData: string): string | undefined {
    const parts = stored.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) return undefined;
    const [, kid, ivPart, bodyPart, tagPart] = parts;
    const key = this.byId.get(kid);
    if (!key) return undefined;
    const iv = Buffer.from(ivPart, 'base64url');
    const tag = Buffer.from(tagPart, 'base64url');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(associatedData, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(bodyPart, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }

  /** The key id a stored value names, for logs and for re-encryption after a rotation. */
  keyIdOf(stored: string): string | undefined {
    const parts = stored.split('.');
    return parts.length === 5 ? parts[1] : undefined;
  }
}

function b64(buffer: Buffer): string {
  return buffer.toString('base64url');
}
