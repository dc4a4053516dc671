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
  async findByIssuerSubject(issuer: string, subject: string, manager?: EntityManager): Promise<UserIdentityEntity | null> {
    const repo = manager ? manager.getRepository(UserIdentityEntity) : this.repo;
    return repo.findOne({ where: { issuer, subject } });
  }

  /** Inserts the link; UNIQUE(issuer, subject) and UNIQUE(user_id, issuer) reject a clash. */
  async link(identity: NewIdentity, manager?: EntityManager): Promise<UserIdentityEntity> {
    const repo = manager ? manager.getRepository(UserIdentityEntity) : this.repo;
    return repo.save(repo.create({ ...identity, lastLoginAt: new Date() }));
  }

  async recordLogin(id: string, email: string | null): Promise<void> {
    await this.repo.update({ id }, { lastLoginAt: new Date(), email });
  }

  /** The user's identities, oldest first (user_identities_user_idx). */
  async listByUser(userId: string): Promise<UserIdentityEntity[]> {
    return this.repo.find({ where: { userId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  /** The user's identity at this issuer, if any (UNIQUE(user_id, issuer)). */
  async findByUserIssuer(userId: string, issuer: string, manager: EntityManager): Promise<UserIdentityEntity | null> {
    return manager.getRepository(UserIdentityEntity).findOne({ where: { userId, issuer } });
  }

  /** This identity, if it belongs to this user. */
  async findOwn(userId: string, id: string, manager: EntityManager): Promise<UserIdentityEntity | null> {
    return manager.getRepository(UserIdentityEntity).findOne({ where: { id, userId } });
  }

  /** The issuers of this user's identities (one per issuer), in the caller's transaction. */
  async issuersOfUser(userId: string, manager: EntityManager): Promise<string[]> {
    const rows = await manager.getRepository(UserIdentityEntity).find({ where: { userId }, select: { issuer: true } });
    return rows.map((row) => row.issuer);
  }

  /** Deletes this identity of this user; returns whether a row went. */
  async deleteOwn(userId: string, id: string, manager: EntityManager): Promise<boolean> {
    const result = await manager.getRepository(UserIdentityEntity).delete({ id, userId });
    return (result.affected ?? 0) > 0;
  }
}
