import { createHmac, hash, hkdfSync, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scryptAsync = promisify(scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

/** An opaque random credential: 32 bytes (256 bits), base64url. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** What we store or key by instead of a bearer secret. (`crypto.hash`: one call, no Hash object; on every session lookup.) */
export function sha256(value: string): string {
  return hash('sha256', value, 'hex');
}

let logTagKey: Buffer | undefined;

/**
 * Keys the log tags with a secret derived from the token-encryption key (HKDF), so that a tag of an
 * email or a sub cannot be reversed by hashing guesses. Called once by OidcModule at startup.
 */
export function keyLogTags(encryptionKey: Buffer): void {
  logTagKey = Buffer.from(hkdfSync('sha256', encryptionKey, Buffer.alloc(0), 'oidc-rp log tags', 32));
}

/** A short tag for logs (of a sub, sid or account): equal values give equal tags, and it reveals nothing. */
export function logTag(value: string | undefined | null): string | undefined {
  if (!value) return undefined;
  return (logTagKey ? createHmac('sha256', logTagKey).update(value, 'utf8').digest('hex') : sha256(value)).slice(0, 12);
}

const SCRYPT = { N: 1 << 15, r: 8, p: 1, keylen: 32 };

/** `scrypt$N$r$p$salt$hash` with Node's scrypt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 64 * 1024 * 1024 });
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

/** Constant-time check; a malformed stored hash is simply a mismatch. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (![N, r, p].every(Number.isSafeInteger) || N > 1 << 20 || r > 32 || p > 16) return false;
  const salt = Buffer.from(parts[4], 'base64');
  const expected = Buffer.from(parts[5], 'base64');
  if (expected.length < 16) return false;
  const actual = await scryptAsync(password, salt, expected.length, { N, r, p, maxmem: 256 * 1024 * 1024 });
  return timingSafeEqual(actual, expected);
}
