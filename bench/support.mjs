// Helpers shared by the bench scripts.
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import pg from 'pg';

/** Polls `url` until `ok(status)` holds (about `tries` × 100 ms). */
export async function waitFor(url, ok, tries = 300) {
  for (let i = 0; i < tries; i++) {
    try {
      if (ok((await fetch(url)).status)) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not up: ${url}`);
}

/** Drops and recreates database `db` through `adminUrl`, then runs the built migrations against `dbUrl`. */
export async function freshDatabase(adminUrl, db, dbUrl) {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const migrate = spawn(process.execPath, ['node_modules/typeorm/cli.js', 'migration:run', '-d', 'dist/data-source.js'], {
    env: { ...process.env, DATABASE_URL: dbUrl },
    stdio: 'ignore',
  });
  await new Promise((resolve, reject) => migrate.on('exit', (code) => (code === 0 ? resolve() : reject(new Error('migration failed')))));
}

/** The session token of seeded session `i`. */
export const tokenOf = (i) => createHash('sha256').update(`bench-${i}`).digest('base64url');

/** Live sessions 0..total-1 of `issuer`: 1 user per 10 sessions, sid `bench-sid-i`, token = tokenOf(i). */
export async function seed(dbUrl, issuer, total) {
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  await db.query(
    `INSERT INTO users (id, email, display_name)
     SELECT md5('user-' || g)::uuid, 'bench' || g || '@example.com', 'Bench ' || g FROM generate_series(0, $1::int - 1) g WHERE g % 10 = 0`,
    [total],
  );
  await db.query(
    `INSERT INTO sessions (user_id, token_hash, issuer, subject, oidc_sid, expires_at)
     SELECT md5('user-' || (g / 10 * 10))::uuid,
            encode(sha256(convert_to(rtrim(translate(encode(sha256(convert_to('bench-' || g, 'UTF8')), 'base64'), '+/', '-_'), '='), 'UTF8')), 'hex'),
            $2, 'bench-sub-' || (g / 10 * 10), 'bench-sid-' || g, now() + interval '7 days'
       FROM generate_series(0, $1::int - 1) g`,
    [total, issuer],
  );
  await db.query('ANALYZE sessions; ANALYZE users;');
  await db.end();
}

/** A valid logout token by sid (RS256, `typ: logout+jwt`, unique jti), signed with the dev OP's key. */
export async function logoutToken(key, kid, { issuer, audience, sid }) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: issuer, aud: audience, iat: now, exp: now + 600, jti: randomUUID(), sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'logout+jwt' })
    .sign(key);
}

/** The environment of the built app under a bench. */
export function appEnv({ port, dbUrl, issuer, clientId, store, redisUrl }) {
  return {
    PORT: String(port),
    DATABASE_URL: dbUrl,
    ...(store === 'redis' ? { REDIS_URL: redisUrl } : { STATE_STORE: 'postgres', REDIS_URL: '' }),
    OIDC_ISSUER: issuer,
    OIDC_CLIENT_ID: clientId,
    OIDC_CLIENT_SECRET: 'demo-app-secret-change-me',
    OIDC_REDIRECT_URI: `http://127.0.0.1:${port}/auth/oidc/callback`,
    OIDC_ALLOW_INSECURE_HTTP: 'true',
    OIDC_TOKEN_ENCRYPTION_KEYS: `b:${Buffer.alloc(32, 1).toString('base64')}`,
    OIDC_UNLINKED_IDENTITY: 'create',
    // The limit is still counted in the state store on every logout, but never reached here.
    OIDC_BACKCHANNEL_RATE_LIMIT: '9999999/1m',
  };
}

/** Runs a bench's `main`, then always stops the processes it started (and runs `cleanup`). */
export function runBench(main, children, cleanup = () => {}) {
  main()
    .catch((error) => {
      console.error(error);
      process.exitCode = 1;
    })
    .finally(async () => {
      for (const c of children) c.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 1000));
      cleanup();
    });
}
