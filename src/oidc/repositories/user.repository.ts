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
}
