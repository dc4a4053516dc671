import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type EntityManager, Repository } from 'typeorm';
import { UserEntity } from '../entities/user.entity';

export interface NewUser {
  email: string | null;
  displayName: string | null;
  passwordHash?: string | null;
}

@Injectable()
export class UserRepository {
  constructor(@InjectRepository(UserEntity) private readonly repo: Repository<UserEntity>) {}

  async create(user: NewUser, manager?: EntityManager): Promise<UserEntity> {
    const repo = manager ? manager.getRepository(UserEntity) : this.repo;
    return repo.save(repo.create({ ...user, email: user.email?.toLowerCase() ?? null, passwordHash: user.passwordHash ?? null }));
  }

  /** With the password hash (it is not selected by default). */
  async findCredentialsByEmail(email: string): Promise<{ id: string; passwordHash: string | null } | null> {
    const row = await this.repo
      .createQueryBuilder('u')
      .select(['u.id', 'u.passwordHash'])
      .where('u.email = :email', { email: email.toLowerCase() })
      .getOne();
    return row ? { id: row.id, passwordHash: row.passwordHash } : null;
  }

  /**
   * Locks the user's row until the end of the caller's transaction (`SELECT … FOR UPDATE`): the
   * changes to one account's sign-in methods (link, unlink) run one at a time. Returns whether the
   * account has a password, or `undefined` when there is no such user.
   */
  async lockForSignInChange(userId: string, manager: EntityManager): Promise<{ hasPassword: boolean } | undefined> {
    const rows: Array<{ has_password: boolean }> = await manager.query(
      `SELECT password_hash IS NOT NULL AS has_password FROM users WHERE id = $1 FOR UPDATE`,
      [userId],
    );
    return rows[0] ? { hasPassword: rows[0].has_password } : undefined;
  }
}
