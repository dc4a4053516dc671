import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * users, user_identities, sessions. Invariants live here: UNIQUE(issuer, subject),
 * UNIQUE(user_id, issuer), unique token_hash, foreign keys, and partial indexes on live sessions so
 * that the per-request lookup and the back-channel lookups never scan the table.
 */
export class InitialSchema1763780000000 implements MigrationInterface {
  name = 'InitialSchema1763780000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE users (
        id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email         varchar(320) NULL,
        display_name  varchar(200) NULL,
        password_hash varchar(255) NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT users_email_key UNIQUE (email),
        CONSTRAINT users_email_lower CHECK (email = lower(email))
      )`);
    await q.query(`
      CREATE TABLE user_identities (
        id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        issuer        text NOT NULL,
        subject       text NOT NULL,
        email         varchar(320) NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        last_login_at timestamptz NULL,
        CONSTRAINT user_identities_issuer_subject_key UNIQUE (issuer, subject),
        CONSTRAINT user_identities_user_issuer_key UNIQUE (user_id, issuer)
      )`);
    await q.query(`
      CREATE TABLE sessions (
        id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id        uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        token_hash     char(64) NOT NULL,
        issuer         text NOT NULL,
        subject        text NOT NULL,
        oidc_sid       text NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        last_seen_at   timestamptz NOT NULL DEFAULT now(),
        expires_at     timestamptz NOT NULL,
        revoked_at     timestamptz NULL,
        revoked_reason varchar(64) NULL,
        CONSTRAINT sessions_token_hash_key UNIQUE (token_hash),
        CONSTRAINT sessions_revoked_reason CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
      )`);
    // Back-channel logout with a sid: live sessions of (issuer, oidc_sid).
    await q.query(`CREATE INDEX sessions_live_sid_idx ON sessions (issuer, oidc_sid) WHERE revoked_at IS NULL AND oidc_sid IS NOT NULL`);
    // Back-channel logout with only a sub: live sessions of (issuer, subject).
    await q.query(`CREATE INDEX sessions_live_subject_idx ON sessions (issuer, subject) WHERE revoked_at IS NULL`);
    // "My sessions", logout everywhere, and the ON DELETE CASCADE of users.
    await q.query(`CREATE INDEX sessions_user_idx ON sessions (user_id)`);
    await q.query(`CREATE INDEX user_identities_user_idx ON user_identities (user_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE sessions`);
    await q.query(`DROP TABLE user_identities`);
    await q.query(`DROP TABLE users`);
  }
}
