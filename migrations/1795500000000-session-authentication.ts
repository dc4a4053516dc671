import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * How the user authenticated at the OP for this session: the ID token's `acr` and `auth_time`, for
 * step-up checks (`SessionGuard` with `requireAcr` / `maxAge`) and the session API. Null for sessions
 * created before this migration or when the OP did not say.
 */
export class SessionAuthentication1795500000000 implements MigrationInterface {
  name = 'SessionAuthentication1795500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE sessions ADD COLUMN acr varchar(128), ADD COLUMN auth_time timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE sessions DROP COLUMN acr, DROP COLUMN auth_time`);
  }
}
