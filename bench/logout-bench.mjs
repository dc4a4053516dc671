// Benchmark: back-channel logout and authenticated GET /auth/session at 1,000 and 1,000,000 sessions,
// once per state store (Redis, Postgres). Runs the built app (node dist/main.js) and the development OP
// against a dedicated database (oidc_rp_bench, recreated for each store), seeds the sessions with SQL,
// and prints median/p99 latencies and the EXPLAIN of the lookup and revocation statements.
//   npm run build && npm run bench [-- --sizes 1000,1000000 --stores redis,postgres]
// BENCH_DB and BENCH_REDIS_URL choose the scratch database and Redis database (default oidc_rp_bench, db 14).
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { importJWK, SignJWT } from 'jose';
import pg from 'pg';
import { freshDatabase, waitFor } from './support.mjs';

const { values } = parseArgs({
  options: { sizes: { type: 'string', default: '1000,1000000' }, samples: { type: 'string', default: '400' }, stores: { type: 'string', default: 'redis,postgres' } },
});
const sizes = values.sizes.split(',').map(Number);
const stores = values.stores.split(',');
const SAMPLES = Number(values.samples);
const ADMIN = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = process.env.BENCH_DB ?? 'oidc_rp_bench';
const dbUrl = ADMIN.replace(/\/[^/]*$/, `/${DB}`);
const OP_PORT = 4790;
const APP_PORT = 3790;
const ISSUER = `http://127.0.0.1:${OP_PORT}`;
const APP = `http://127.0.0.1:${APP_PORT}`;
const CLIENT = 'bench-app';
const work = mkdtempSync(join(tmpdir(), 'oidc-bench-'));
const jwksFile = join(work, 'jwks.json');
const children = [];

const tokenOf = (i) => createHash('sha256').update(`bench-${i}`).digest('base64url');

function start(args, env) {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}

/** Seeds `total` live sessions: 1 user per 10 sessions, one sid per session, token = sha256('bench-i'). */
async function seedTo(db, from, total) {
  const step = 100_000;
  for (let lo = from; lo < total; lo += step) {
    const hi = Math.min(total, lo + step) - 1;
    await db.query(
      `INSERT INTO users (id, email, display_name)
       SELECT md5('user-' || g)::uuid, 'bench' || g || '@example.com', 'Bench ' || g
         FROM generate_series($1::int, $2::int) g WHERE g % 10 = 0
       ON CONFLICT DO NOTHING`,
      [lo, hi],
    );
    await db.query(
      `INSERT INTO sessions (user_id, token_hash, issuer, subject, oidc_sid, expires_at)
       SELECT md5('user-' || (g / 10 * 10))::uuid,
              encode(sha256(convert_to(rtrim(translate(encode(sha256(convert_to('bench-' || g, 'UTF8')), 'base64'), '+/', '-_'), '='), 'UTF8')), 'hex'),
              $3, 'bench-sub-' || (g / 10 * 10), 'bench-sid-' || g, now() + interval '7 days'
         FROM generate_series($1::int, $2::int) g`,
      [lo, hi, ISSUER],
    );
  }
  // A steady-state table: vacuumed (visibility map set) and analysed, so that autovacuum does not start
  // on the freshly inserted rows during the measurement.
  await db.query('VACUUM (ANALYZE) sessions');
  await db.query('VACUUM (ANALYZE) users');
}

async function logoutToken(key, kid, claims) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: ISSUER, aud: CLIENT, iat: now, exp: now + 120, jti: randomUUID(), events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'logout+jwt' })
    .sign(key);
}

async function time(fn) {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { median: at(0.5), p99: at(0.99) };
}

/** `revoked` holds the sessions that earlier logouts revoked (across sizes): never picked again. */
async function measure(size, key, kid, revoked) {
  if (2 * (SAMPLES + 30) > size - revoked.size) throw new Error(`--samples ${SAMPLES} is too many for ${size} sessions`);
  const live = () => {
    for (;;) {
      const i = Math.floor(Math.random() * size);
      if (!revoked.has(i)) return i;
    }
  };
  const pick = () => {
    const i = live();
    revoked.add(i);
    return i;
  };
  // Warm up both paths (connections, JWKS, plans).
  for (let n = 0; n < 30; n++) {
    await fetch(`${APP}/auth/session`, { headers: { authorization: `Bearer ${tokenOf(live())}` } });
  }
  const sessionTimes = [];
  for (let n = 0; n < SAMPLES; n++) {
    const token = tokenOf(live());
    sessionTimes.push(
      await time(async () => {
        const r = await fetch(`${APP}/auth/session`, { headers: { authorization: `Bearer ${token}` } });
        if (r.status !== 200) throw new Error(`GET /auth/session → ${r.status}`);
        await r.arrayBuffer();
      }),
    );
  }
  const logoutTimes = [];
  for (let n = 0; n < SAMPLES + 30; n++) {
    const body = new URLSearchParams({ logout_token: await logoutToken(key, kid, { sid: `bench-sid-${pick()}` }) }).toString();
    const ms = await time(async () => {
      const r = await fetch(`${APP}/auth/oidc/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      if (r.status !== 200) throw new Error(`back-channel logout → ${r.status} ${await r.text()}`);
    });
    if (n >= 30) logoutTimes.push(ms);
  }
  return { session: stats(sessionTimes), logout: stats(logoutTimes) };
}

async function explain(db, size, revoked) {
  let live = size - 1;
  while (revoked.has(live)) live--;
  const plans = {
    'find live sessions by (issuer, sid)': [`SELECT id FROM sessions WHERE issuer = $1 AND oidc_sid = $2 AND oidc_sid IS NOT NULL AND revoked_at IS NULL`, [ISSUER, `bench-sid-${live}`]],
    // As the app runs it: the lookups of one event-loop turn share the statement (token_hash = ANY).
    'session lookup (per request)': [`SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ANY($1::char(64)[]) AND s.revoked_at IS NULL AND s.expires_at > now()`, [[createHash('sha256').update(tokenOf(live)).digest('hex'), createHash('sha256').update(tokenOf(live - 1)).digest('hex')]]],
    // The statement a back-channel logout runs: jti claim, revocation, outbox and ended-OP-session record at once.
    'back-channel logout by (issuer, sid), one statement': [
      `WITH claim AS (INSERT INTO backchannel_logout_jtis (issuer, jti_hash, expires_at) VALUES ($1, md5(random()::text) || md5(random()::text), now() + interval '5 minutes') ON CONFLICT DO NOTHING RETURNING 1),
            revoked AS (UPDATE sessions SET revoked_at = now(), revoked_reason = 'backchannel_logout' WHERE issuer = $1 AND oidc_sid = $2 AND oidc_sid IS NOT NULL AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM claim) RETURNING id),
            queued AS (INSERT INTO session_token_outbox (session_id, reason) SELECT id, 'backchannel_logout' FROM revoked ON CONFLICT DO NOTHING)
       SELECT EXISTS (SELECT 1 FROM claim), ARRAY(SELECT id::text FROM revoked)`,
      [ISSUER, `bench-sid-${live}`],
    ],
    'revoke by (issuer, subject)': [`UPDATE sessions SET revoked_at = now(), revoked_reason = 'backchannel_logout' WHERE issuer = $1 AND subject = $2 AND revoked_at IS NULL RETURNING id`, [ISSUER, 'bench-sub-20']],
  };
  for (const [name, [sql, params]] of Object.entries(plans)) {
    await db.query('BEGIN');
    const { rows } = await db.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${sql}`, params);
    await db.query('ROLLBACK');
    console.log(`  EXPLAIN ${name}:\n${rows.map((r) => `    ${r['QUERY PLAN']}`).join('\n')}`);
  }
}

async function runStore(store, key, kid) {
  await freshDatabase(ADMIN, DB, dbUrl);
  const app = start(['dist/main.js'], {
    PORT: String(APP_PORT),
    DATABASE_URL: dbUrl,
    ...(store === 'redis' ? { REDIS_URL: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14' } : { STATE_STORE: 'postgres', REDIS_URL: '' }),
    OIDC_ISSUER: ISSUER,
    OIDC_CLIENT_ID: CLIENT,
    OIDC_CLIENT_SECRET: 'demo-app-secret-change-me',
    OIDC_REDIRECT_URI: `${APP}/auth/oidc/callback`,
    OIDC_ALLOW_INSECURE_HTTP: 'true',
    OIDC_TOKEN_ENCRYPTION_KEYS: `b:${Buffer.alloc(32, 1).toString('base64')}`,
    OIDC_UNLINKED_IDENTITY: 'create',
  });
  await waitFor(`${APP}/health`, (s) => s === 200);

  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  const results = [];
  const revoked = new Set();
  let seeded = 0;
  console.log(`\n=== state store: ${store}`);
  for (const size of sizes) {
    const started = Date.now();
    await seedTo(db, seeded, size);
    seeded = size;
    console.log(`\n${size.toLocaleString('en')} sessions (seeded in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
    const r = await measure(size, key, kid, revoked);
    results.push({ size, ...r });
    console.log(`  GET /auth/session          median ${r.session.median.toFixed(2)} ms   p99 ${r.session.p99.toFixed(2)} ms`);
    console.log(`  back-channel logout (sid)  median ${r.logout.median.toFixed(2)} ms   p99 ${r.logout.p99.toFixed(2)} ms`);
    await explain(db, size, revoked);
  }
  await db.end();
  app.kill('SIGTERM');
  await new Promise((resolve) => app.once('exit', resolve));
  return results;
}

async function main() {
  start(['dev-idp/server.mjs'], { DEV_IDP_PORT: String(OP_PORT), DEV_IDP_ISSUER: ISSUER, DEV_IDP_CLIENT_ID: CLIENT, DEV_IDP_JWKS_FILE: jwksFile, DEV_IDP_APP_URL: APP });
  await waitFor(`${ISSUER}/.well-known/openid-configuration`, (s) => s === 200);
  const jwk = JSON.parse(readFileSync(jwksFile, 'utf8')).keys[0];
  const key = await importJWK(jwk, 'RS256');
  const summary = [];
  for (const store of stores) summary.push({ store, results: await runStore(store, key, jwk.kid) });

  const ratio = (a, b) => `${(a / b).toFixed(2)}×`;
  console.log('\nsummary (median / p99, ms)');
  for (const { store, results } of summary) {
    for (const r of results) {
      console.log(
        `  ${store.padEnd(8)} ${r.size.toLocaleString('en').padStart(9)} sessions   GET /auth/session ${r.session.median.toFixed(2)} / ${r.session.p99.toFixed(2)}   back-channel logout ${r.logout.median.toFixed(2)} / ${r.logout.p99.toFixed(2)}`,
      );
    }
    if (results.length > 1) {
      const [first, last] = [results[0], results[results.length - 1]];
      console.log(
        `  ${store.padEnd(8)} ratio ${last.size.toLocaleString('en')} / ${first.size.toLocaleString('en')}: GET /auth/session median ${ratio(last.session.median, first.session.median)}, p99 ${ratio(last.session.p99, first.session.p99)}; back-channel logout median ${ratio(last.logout.median, first.logout.median)}, p99 ${ratio(last.logout.p99, first.logout.p99)}`,
      );
    }
  }
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => children.forEach((c) => c.kill('SIGTERM')));
