import { Injectable } from '@nestjs/common';
import { hashPassword, verifyPassword } from '../crypto/secrets';
import type { AccountVerifier } from '../oidc.tokens';
import { UserRepository } from '../repositories/user.repository';

/**
 * The default `AccountVerifier`: the identifier is the account's email, the secret its password,
 * checked against the scrypt hash in `users.password_hash`. An unknown email costs the same scrypt
 * work as a wrong password, and both answer `null`.
 */
@Injectable()
export class PasswordAccountVerifier implements AccountVerifier {
  private decoy?: Promise<string>;

  constructor(private readonly users: UserRepository) {}

  async verify(identifier: string, secret: string): Promise<{ userId: string } | null> {
    const account = await this.users.findCredentialsByEmail(identifier);
    if (!account?.passwordHash) {
      await verifyPassword(secret, await this.decoyHash());
      return null;
    }
    return (await verifyPassword(secret, account.passwordHash)) ? { userId: account.id } : null;
  }

  private decoyHash(): Promise<string> {
    this.decoy ??= hashPassword('decoy-password-never-matches');
    return this.decoy;
  }
}
