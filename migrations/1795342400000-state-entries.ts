import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The Postgres state store (`STATE_STORE=postgres`): short-lived keys with an expiry. Reads filter
 * on `expires_at > now()`; the index serves the batched purge of expired rows.
 */
export class StateEntries1795342400000 implements MigrationInterface {
  name = 'StateEntries1795342400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE state_entries (
        key        text PRIMARY KEY,
        value      text NOT NULL,
        expires_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX state_entries_expires_at_idx ON state_entries (expires_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE state_entries`);
  }
}
