// Benchmark: back-channel logout and authenticated GET /auth/session at 1,000 and 1,000,000 sessions,
// per state store (Redis, Postgres). For each store it seeds one database per size (oidc_rp_bench_<size>,
// sessions inserted with SQL, then vacuumed), runs the built app (node dist/main.js) once per database
// side by side with the development OP, and measures the sizes in alternating rounds (--rounds, the
// order reversed every other round), so that what the shared machine does meanwhile falls on both: the
// ratio of a round compares two measurements taken seconds apart. Prints median/p99 latencies over all
// rounds, the median of the per-round ratios, and the EXPLAIN of the lookup and revocation statements.
//   npm run build && npm run bench [-- --sizes 1000,1000000 --stores redis,postgres --rounds 5 --samples 400]
// BENCH_DB and BENCH_REDIS_URL choose the scratch database prefix and Redis database (default oidc_rp_bench, db 14).
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
// The app's own back-channel statement (built output), so that its plan is the one printed.
import { REVOKE_FOR_LOGOUT_TOKENS } from '../dist/oidc/repositories/session.repository.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,1000000' },
    /** Requests per path and size, over all rounds. */
    samples: { type: 'string', default: '400' },
    rounds: { type: 'string', default: '5' },
    stores: { type: 'string', default: 'redis,postgres' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const stores = values.stores.split(',');
const SAMPLES = Number(values.samples);
const ROUNDS = Number(values.rounds);
const PER_ROUND = Math.ceil(SAMPLES / ROUNDS);
const ADMIN = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = process.env.BENCH_DB ?? 'oidc_rp_bench';
const dbUrlOf = (db) => ADMIN.replace(/\/[^/]*$/, `/${db}`);
const OP_PORT = 4790;
const APP_PORT = 3790;
const ISSUER = `http://127.0.0.1:${OP_PORT}`;
/** One app per size, side by side: APP_PORT, APP_PORT + 1, … */
const appOf = (index) => `http://127.0.0.1:${APP_PORT + index}`;
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

/**
 * One round of one size: `count` session lookups then `count` back-channel logouts (each revokes a
 * live session, never picked again: `revoked`), against that size's app. Returns the latencies in ms.
 */
async function measure(app, size, key, kid, revoked, count, warmUp) {
  if (2 * (count + 30) > size - revoked.size) throw new Error(`--samples ${SAMPLES} is too many for ${size} sessions`);
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
  const session = async () => {
    const token = tokenOf(live());
    return time(async () => {
      const r = await fetch(`${app}/auth/session`, { headers: { authorization: `Bearer ${token}` } });
      if (r.status !== 200) throw new Error(`GET /auth/session → ${r.status}`);
      await r.arrayBuffer();
    });
  };
  const logout = async () => {
    const body = new URLSearchParams({ logout_token: await logoutToken(key, kid, { sid: `bench-sid-${pick()}` }) }).toString();
    return time(async () => {
      const r = await fetch(`${app}/auth/oidc/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      if (r.status !== 200) throw new Error(`back-channel logout → ${r.status} ${await r.text()}`);
    });
  };
  // Warm up both paths (connections, JWKS, plans) before the first round.
  if (warmUp) for (let n = 0; n < 30; n++) await session(), await logout();
  const sessionTimes = [];
  for (let n = 0; n < count; n++) sessionTimes.push(await session());
  const logoutTimes = [];
  for (let n = 0; n < count; n++) logoutTimes.push(await logout());
  return { sessionTimes, logoutTimes };
}

async function explain(db, size, revoked) {
  let live = size - 1;
  while (revoked.has(live)) live--;
  const plans = {
    'find live sessions by (issuer, sid)': [`SELECT id FROM sessions WHERE issuer = $1 AND oidc_sid = $2 AND oidc_sid IS NOT NULL AND revoked_at IS NULL`, [ISSUER, `bench-sid-${live}`]],
    // As the app runs it: the lookups of one event-loop turn share the statement (token_hash = ANY).
    'session lookup (per request)': [`SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ANY($1::char(64)[]) AND s.revoked_at IS NULL AND s.expires_at > now()`, [[createHash('sha256').update(tokenOf(live)).digest('hex'), createHash('sha256').update(tokenOf(live - 1)).digest('hex')]]],
    // The statement back-channel logouts run (the app's own text): jti claims, revocations, outbox and
    // ended-OP-session records of the tokens of one turn at once; here two, one by sid, one by subject.
    'back-channel logout, one statement for the tokens of a turn (one by sid, one by subject)': [
      REVOKE_FOR_LOGOUT_TOKENS,
      [
        [ISSUER, ISSUER],
        [randomUUID(), randomUUID()],
        [Date.now() / 1000 + 300, Date.now() / 1000 + 300],
        [`bench-sid-${live}`, null],
        [null, 'bench-sub-20'],
        ['sid', 'sub'],
        [randomUUID(), randomUUID()],
        [Math.floor(Date.now() / 1000), Math.floor(Date.now() / 1000)],
        [Date.now() / 1000 + 300, Date.now() / 1000 + 300],
        'backchannel_logout',
      ],
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
  console.log(`\n=== state store: ${store}`);
  const targets = [];
  for (const [index, size] of sizes.entries()) {
    const db = `${DB}_${size}`;
    const url = dbUrlOf(db);
    await freshDatabase(ADMIN, db, url);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const started = Date.now();
    await seedTo(client, 0, size);
    console.log(`${size.toLocaleString('en')} sessions seeded in ${((Date.now() - started) / 1000).toFixed(1)} s (${db})`);
    const app = appOf(index);
    const child = start(['dist/main.js'], {
      PORT: String(APP_PORT + index),
      DATABASE_URL: url,
      ...(store === 'redis' ? { REDIS_URL: (process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14').replace(/\/\d+$/, `/${14 - index}`) } : { STATE_STORE: 'postgres', REDIS_URL: '' }),
      OIDC_ISSUER: ISSUER,
      OIDC_CLIENT_ID: CLIENT,
      OIDC_CLIENT_SECRET: 'demo-app-secret-change-me',
      OIDC_REDIRECT_URI: `${app}/auth/oidc/callback`,
      OIDC_ALLOW_INSECURE_HTTP: 'true',
      OIDC_TOKEN_ENCRYPTION_KEYS: `b:${Buffer.alloc(32, 1).toString('base64')}`,
      OIDC_UNLINKED_IDENTITY: 'create',
    });
    await waitFor(`${app}/health`, (s) => s === 200);
    targets.push({ size, app, child, client, revoked: new Set(), sessionTimes: [], logoutTimes: [] });
  }

  // Alternating rounds: every size once a round, the order reversed every other round.
  const roundRatios = [];
  for (let r = 0; r < ROUNDS; r++) {
    const medians = new Map();
    for (const t of r % 2 ? [...targets].reverse() : targets) {
      const m = await measure(t.app, t.size, key, kid, t.revoked, PER_ROUND, r === 0);
      t.sessionTimes.push(...m.sessionTimes);
      t.logoutTimes.push(...m.logoutTimes);
      medians.set(t.size, { session: stats(m.sessionTimes).median, logout: stats(m.logoutTimes).median });
    }
    const [first, last] = [medians.get(targets[0].size), medians.get(targets[targets.length - 1].size)];
    roundRatios.push({ session: last.session / first.session, logout: last.logout / first.logout });
    console.log(
      `round ${r + 1}: ` +
        targets.map((t) => `${t.size.toLocaleString('en')}: session ${medians.get(t.size).session.toFixed(2)} ms, logout ${medians.get(t.size).logout.toFixed(2)} ms`).join('   ') +
        `   ratio session ${roundRatios[r].session.toFixed(2)}×, logout ${roundRatios[r].logout.toFixed(2)}×`,
    );
  }
  const results = [];
  for (const t of targets) {
    results.push({ size: t.size, session: stats(t.sessionTimes), logout: stats(t.logoutTimes) });
    console.log(`\n${t.size.toLocaleString('en')} sessions, all rounds:`);
    await explain(t.client, t.size, t.revoked);
    await t.client.end();
    t.child.kill('SIGTERM');
    await new Promise((resolve) => t.child.once('exit', resolve));
  }
  const medianOf = (xs) => stats(xs).median;
  return { results, ratios: { session: medianOf(roundRatios.map((x) => x.session)), logout: medianOf(roundRatios.map((x) => x.logout)) }, roundRatios };
}

async function main() {
  start(['dev-idp/server.mjs'], { DEV_IDP_PORT: String(OP_PORT), DEV_IDP_ISSUER: ISSUER, DEV_IDP_CLIENT_ID: CLIENT, DEV_IDP_JWKS_FILE: jwksFile, DEV_IDP_APP_URL: appOf(0) });
  await waitFor(`${ISSUER}/.well-known/openid-configuration`, (s) => s === 200);
  const jwk = JSON.parse(readFileSync(jwksFile, 'utf8')).keys[0];
  const key = await importJWK(jwk, 'RS256');
  const summary = [];
  for (const store of stores) summary.push({ store, ...(await runStore(store, key, jwk.kid)) });

  console.log(`\nsummary (median / p99 over ${ROUNDS} alternating rounds, ms)`);
  for (const { store, results, ratios, roundRatios } of summary) {
    for (const r of results) {
      console.log(
        `  ${store.padEnd(8)} ${r.size.toLocaleString('en').padStart(9)} sessions   GET /auth/session ${r.session.median.toFixed(2)} / ${r.session.p99.toFixed(2)}   back-channel logout ${r.logout.median.toFixed(2)} / ${r.logout.p99.toFixed(2)}`,
      );
    }
    if (results.length > 1) {
      const [first, last] = [results[0], results[results.length - 1]];
      const range = (k) => `${Math.min(...roundRatios.map((x) => x[k])).toFixed(2)}–${Math.max(...roundRatios.map((x) => x[k])).toFixed(2)}`;
      console.log(
        `  RATIO ${store} ${last.size.toLocaleString('en')} / ${first.size.toLocaleString('en')} sessions, median of the per-round median ratios: ` +
          `GET /auth/session ${ratios.session.toFixed(2)}× (rounds ${range('session')}), back-channel logout ${ratios.logout.toFixed(2)}× (rounds ${range('logout')})   target ≤ 1.2×`,
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
