import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TokenCipher } from './token-cipher';

const k1 = { id: 'k1', key: randomBytes(32) };
const k2 = { id: 'k2', key: randomBytes(32) };
const AAD = 'session:7a1f:id_token';

function flip(stored: string, partIndex: number): string {
  const parts = stored.split('.');
  const bytes = Buffer.from(parts[partIndex], 'base64url');
  bytes[0] ^= 0x01;
  parts[partIndex] = bytes.toString('base64url');
  return parts.join('.');
}

describe('TokenCipher', () => {
  const cipher = new TokenCipher([k1]);

  it('round-trips and never stores the plaintext', () => {
    const stored = cipher.encrypt('eyJhbGciOi.secret.token', AAD);
    expect(stored).not.toContain('secret');
    expect(stored.startsWith('v1.k1.')).toBe(true);
    expect(cipher.decrypt(stored, AAD)).toBe('eyJhbGciOi.secret.token');
  });

  it('uses a fresh IV each time', () => {
    expect(cipher.encrypt('same', AAD)).not.toBe(cipher.encrypt('same', AAD));
  });

  it('fails with other associated data (a value copied to another session)', () => {
    const stored = cipher.encrypt('tok', AAD);
    expect(cipher.decrypt(stored, 'session:other:id_token')).toBeUndefined();
    expect(cipher.decrypt(stored, 'session:7a1f:refresh_token')).toBeUndefined();
  });

  it('fails with the wrong key', () => {
    const stored = cipher.encrypt('tok', AAD);
    const impostor = new TokenCipher([{ id: 'k1', key: randomBytes(32) }]);
    expect(impostor.decrypt(stored, AAD)).toBeUndefined();
  });

  it('fails when the key id is unknown', () => {
    const stored = new TokenCipher([k2]).encrypt('tok', AAD);
    expect(cipher.decrypt(stored, AAD)).toBeUndefined();
  });

  it.each([
    ['tag', 4],
    ['ciphertext', 3],
    ['iv', 2],
  ])('fails when the %s is tampered with', (_name, index) => {
    const stored = cipher.encrypt('tok', AAD);
    expect(cipher.decrypt(flip(stored, index), AAD)).toBeUndefined();
  });

  it.each(['', 'garbage', 'v1.k1.a.b', 'v2.k1.aaa.bbb.ccc', 'v1.k1.AAAA.AAAA.AAAA'])('rejects malformed value %j', (value) => {
    expect(cipher.decrypt(value, AAD)).toBeUndefined();
  });

  it('rotates: the first key encrypts, older keys still decrypt', () => {
    const old = new TokenCipher([k1]).encrypt('old-token', AAD);
    const rotated = new TokenCipher([k2, k1]);
    expect(rotated.decrypt(old, AAD)).toBe('old-token');
    const fresh = rotated.encrypt('new-token', AAD);
    expect(rotated.keyIdOf(fresh)).toBe('k2');
    expect(new TokenCipher([k1]).decrypt(fresh, AAD)).toBeUndefined();
  });

  it('refuses keys of the wrong size', () => {
    expect(() => new TokenCipher([{ id: 'short', key: randomBytes(16) }])).toThrow(/32 bytes/);
  });
});
