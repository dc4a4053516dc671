import type { DataSource } from 'typeorm';
import { hashPassword } from '../oidc/crypto/secrets';
import { UserEntity } from '../oidc/entities';

export interface LocalUserInput {
  email?: string;
  name?: string;
  password?: string;
}

export class LocalUserError extends Error {}

/** Creates a local user with a scrypt password hash; what `npm run user:create` runs. */
export async function createLocalUser(db: DataSource, input: LocalUserInput): Promise<UserEntity> {
  const email = input.email?.trim().toLowerCase();
  if (!email || !/^[^\s@]+@[^\s@]+$/.test(email)) throw new LocalUserError('--email must be an email address');
  if (!input.password || input.password.length < 8) {
    throw new LocalUserError('the password must have at least 8 characters (--password or --password-stdin)');
  }
  const repo = db.getRepository(UserEntity);
  if (await repo.exists({ where: { email } })) throw new LocalUserError(`a user with email ${email} already exists`);
  return repo.save(repo.create({ email, displayName: input.name?.trim() || null, passwordHash: await hashPassword(input.password) }));
}
