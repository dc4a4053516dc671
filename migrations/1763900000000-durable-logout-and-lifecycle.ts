import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Durable back-channel logout and the session lifecycle:
 * - `backchannel_logout_jtis`: seen logout-token ids, written in the same statement as the revocation,
 *   so a logout is applied exactly once whatever fails; purged after `expires_at`.
 * - `session_token_outbox`: revoked sessions whose cached tokens (state store) are still to be dropped
 *   and whose refresh tokens are still to be revoked at the OP; written with the revocation, drained
 *   after it (at once, or by the retry job while the state store is down).
 * - `backchannel_ended_op_sessions`: OP sessions (by sid) and subjects (by sub) that a back-channel
 *   logout ended, with the logout token's `iat`, written in the same statement; a login whose ID token
 *   is not newer (or whose sid ended) is refused even if it completes after the logout.
 * - indexes for the purge job: live sessions by expiry, revoked sessions by revocation time.
 */
export class DurableLogoutAndLifecycle1763900000000 implements MigrationInterface {
  name = 'DurableLogoutAndLifecycle1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE backchannel_logout_jtis (
        issuer     text NOT NULL,
        jti_hash   char(64) NOT NULL,
        expires_at timestamptz NOT NULL,
        CONSTRAINT backchannel_logout_jtis_pkey PRIMARY KEY (issuer, jti_hash)
      )`);
    await q.query(`CREATE INDEX backchannel_logout_jtis_expiry_idx ON backchannel_logout_jtis (expires_at)`);
    await q.query(`
      CREATE TABLE session_token_outbox (
        session_id uuid PRIMARY KEY,
        reason     varchar(64) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX session_token_outbox_created_idx ON session_token_outbox (created_at)`);
    await q.query(`
      CREATE TABLE backchannel_ended_op_sessions (
        issuer        text NOT NULL,
        kind          varchar(3) NOT NULL CHECK (kind IN ('sid', 'sub')),
        value_hash    char(64) NOT NULL,
        logged_out_at timestamptz NOT NULL,
        expires_at    timestamptz NOT NULL,
        CONSTRAINT backchannel_ended_op_sessions_pkey PRIMARY KEY (issuer, kind, value_hash)
      )`);
    await q.query(`CREATE INDEX backchannel_ended_op_sessions_expiry_idx ON backchannel_ended_op_sessions (expires_at)`);
    await q.query(`CREATE INDEX sessions_live_expiry_idx ON sessions (expires_at) WHERE revoked_at IS NULL`);
    await q.query(`CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX sessions_revoked_at_idx`);
    await q.query(`DROP INDEX sessions_live_expiry_idx`);
    await q.query(`DROP TABLE backchannel_ended_op_sessions`);
    await q.query(`DROP TABLE session_token_outbox`);
    await q.query(`DROP TABLE backchannel_logout_jtis`);
  }
}
