import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type EntityManager, Repository } from 'typeorm';
import { UserIdentityEntity } from '../entities/user-identity.entity';

export interface NewIdentity {
  userId: string;
  issuer: string;
  subject: string;
  email: string | null;
}

@Injectable()
export class IdentityRepository {
  constructor(@InjectRepository(UserIdentityEntity) private readonly repo: Repository<UserIdentityEntity>) {}

  /** Uses UNIQUE(issuer, subject). */
  async findByIssuerSubject(issuer: string, subject: string): Promise<UserIdentityEntity | null> {
    return this.repo.findOne({ where: { issuer, subject } });
  }

  /** Inserts the link; UNIQUE(issuer, subject) and UNIQUE(user_id, issuer) reject a clash. */
  async link(identity: NewIdentity, manager?: EntityManager): Promise<UserIdentityEntity> {
    const repo = manager ? manager.getRepository(UserIdentityEntity) : this.repo;
    return repo.save(repo.create({ ...identity, lastLoginAt: new Date() }));
  }

  async recordLogin(id: string, email: string | null): Promise<void> {
    await this.repo.update({ id }, { lastLoginAt: new Date(), email });
  }
}
