import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hashPassword, keyLogTags, logTag, randomToken, sha256, verifyPassword } from './secrets';

describe('secrets', () => {
  it('random tokens carry 256 bits and differ', () => {
    const a = randomToken();
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(a).not.toBe(randomToken());
  });

  it('hashes passwords with scrypt and verifies them', async () => {
    const stored = await hashPassword('correct horse');
    expect(stored.startsWith('scrypt$')).toBe(true);
    expect(stored).not.toContain('correct horse');
    await expect(verifyPassword('correct horse', stored)).resolves.toBe(true);
    await expect(verifyPassword('wrong horse', stored)).resolves.toBe(false);
  });

  it.each(['', 'plain', 'bcrypt$x$y', 'scrypt$1$2$3$4$5', 'scrypt$99999999$8$1$c2FsdA==$aGFzaA=='])(
    'treats malformed stored hash %j as a mismatch',
    async (stored) => {
      await expect(verifyPassword('pw', stored)).resolves.toBe(false);
    },
  );

  it('hashes to 64 hex characters', () => {
    expect(sha256('x')).toHaveLength(64);
    // The FIPS 180-2 vector, and a non-ASCII value hashed as its UTF-8 bytes (as stored hashes were).
    expect(sha256('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256('é–ü')).toBe(createHash('sha256').update(Buffer.from('é–ü', 'utf8')).digest('hex'));
  });
});

describe('logTag', () => {
  it('is stable for one value, differs between values, and is keyed (not the plain hash)', () => {
    keyLogTags(Buffer.alloc(32, 1));
    const tag = logTag('alice@corp.example');
    expect(tag).toMatch(/^[0-9a-f]{12}$/);
    expect(logTag('alice@corp.example')).toBe(tag);
    expect(logTag('bob@corp.example')).not.toBe(tag);
    expect(tag).not.toBe(sha256('alice@corp.example').slice(0, 12));
    keyLogTags(Buffer.alloc(32, 2));
    expect(logTag('alice@corp.example')).not.toBe(tag);
    expect(logTag(undefined)).toBeUndefined();
  });
});
