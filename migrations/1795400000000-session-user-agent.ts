import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The browser a session was signed in from (its `User-Agent` at login, at most 512 characters), for
 * the user's own session list. Null for sessions created before this migration or without the header.
 */
export class SessionUserAgent1795400000000 implements MigrationInterface {
  name = 'SessionUserAgent1795400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE sessions ADD COLUMN user_agent varchar(512)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE sessions DROP COLUMN user_agent`);
  }
}
