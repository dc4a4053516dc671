// Benchmark: is the app's memory flat over 10^5+ requests? Runs the built app (node dist/main.js) with
// `--heapsnapshot-signal=SIGWINCH` (a Node flag given only here; no code in the app for it), serves a
// warm-up and then several equal phases of mixed requests (GET /api/ping, GET /auth/session with a
// Bearer token, back-channel logouts of live sessions and of sids that match nothing), and after each
// phase asks for a heap snapshot: V8 runs a full garbage collection before it writes one, so the
// `nodejs_heap_size_used_bytes` that /metrics (prom-client's default metrics) reports right after is the
// live heap, not garbage waiting to be collected. Live heap that keeps growing phase after phase is a
// leak; growth that stops after the warm-up (caches, prepared statements, JIT) is not.
//   npm run build && node bench/memory-bench.mjs [-- --phases 3 --requests 40000 --store redis]
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { importJWK } from 'jose';
import { appEnv, freshDatabase, logoutToken, runBench, seed, tokenOf, waitFor } from './support.mjs';

const { values } = parseArgs({
  options: {
    phases: { type: 'string', default: '3' },
    /** Requests a phase (the warm-up is one phase too): 40 % ping, 40 % session, 10 % logout live, 10 % no match. */
    requests: { type: 'string', default: '40000' },
    store: { type: 'string', default: 'redis' },
  },
});

const ISSUER_PORT = 4793;
const APP_PORT = 3793;
const ISSUER = `http://127.0.0.1:${ISSUER_PORT}`;
const APP = `http://127.0.0.1:${APP_PORT}`;
const CLIENT = 'bench-app';
const PHASES = Number(values.phases);
const PER_PHASE = Number(values.requests);
const LOGOUTS = Math.floor(PER_PHASE / 10);
const READERS = 1000;
const ADMIN = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = process.env.BENCH_DB ?? 'oidc_rp_memory';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/9';
const dbUrl = ADMIN.replace(/\/[^/]*$/, `/${DB}`);
const work = mkdtempSync(join(tmpdir(), 'oidc-memory-'));
const jwksFile = join(work, 'jwks.json');
const children = [];

function start(args, env) {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() });
  child.stdout.resume();
  children.push(child);
  return child;
}

function run({ path, method = 'GET', headers = {}, setup, amount }) {
  return new Promise((resolve, reject) => {
    autocannon(
      { url: `${APP}${path}`, connections: 10, amount, requests: [{ method, headers, ...(setup ? { setupRequest: setup } : {}) }] },
      (error, r) => {
        if (error) return reject(error);
        const bad = r.non2xx + r.errors + r.timeouts;
        if (bad > 0) return reject(new Error(`${method} ${path}: ${bad} failed requests`));
        resolve(r.requests.total);
      },
    );
  });
}

/** Live heap after a full GC: a heap snapshot (SIGWINCH; Nest's shutdown hooks take SIGUSR2) forces one; /metrics answers once it is written. */
async function liveHeapMb(app) {
  const before = readdirSync(work).filter((f) => f.endsWith('.heapsnapshot')).length;
  app.kill('SIGWINCH');
  for (let i = 0; i < 600 && readdirSync(work).filter((f) => f.endsWith('.heapsnapshot')).length === before; i++) await new Promise((r) => setTimeout(r, 100));
  const text = await (await fetch(`${APP}/metrics`)).text();
  for (const f of readdirSync(work).filter((f) => f.endsWith('.heapsnapshot'))) rmSync(join(work, f));
  const used = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)[1]) / 2 ** 20;
  const rss = Number(/^process_resident_memory_bytes (\S+)/m.exec(text)[1]) / 2 ** 20;
  return { used, rss };
}

async function main() {
  await freshDatabase(ADMIN, DB, dbUrl);
  await seed(dbUrl, ISSUER, READERS + (PHASES + 1) * LOGOUTS);
  start(['dev-idp/server.mjs'], { DEV_IDP_PORT: String(ISSUER_PORT), DEV_IDP_ISSUER: ISSUER, DEV_IDP_CLIENT_ID: CLIENT, DEV_IDP_JWKS_FILE: jwksFile, DEV_IDP_APP_URL: APP });
  await waitFor(`${ISSUER}/.well-known/openid-configuration`, (s) => s === 200);
  const jwk = JSON.parse(readFileSync(jwksFile, 'utf8')).keys[0];
  const key = await importJWK(jwk, 'RS256');
  const app = start(['--heapsnapshot-signal=SIGWINCH', `--diagnostic-dir=${work}`, 'dist/main.js'], appEnv({ port: APP_PORT, dbUrl, issuer: ISSUER, clientId: CLIENT, store: values.store, redisUrl: REDIS_URL }));
  await waitFor(`${APP}/health`, (s) => s === 200);

  let nextLive = READERS;
  let reader = 0;
  let served = 0;
  const bearer = (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokenOf(reader++ % READERS)}` } });
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const rows = [];
  console.log(`${PHASES} phases of ${PER_PHASE.toLocaleString('en')} requests after a warm-up of as many (${values.store} state store); live heap after a forced full GC:`);
  for (let phase = 0; phase <= PHASES; phase++) {
    const bodies = async (live) => {
      const out = [];
      for (let n = 0; n < LOGOUTS; n++) {
        const sid = live ? `bench-sid-${nextLive++}` : `nomatch-${randomUUID()}`;
        out.push(new URLSearchParams({ logout_token: await logoutToken(key, jwk.kid, { issuer: ISSUER, audience: CLIENT, sid }) }).toString());
      }
      let i = 0;
      return (req) => ({ ...req, body: out[i++] });
    };
    const live = await bodies(true);
    const nomatch = await bodies(false);
    served += await run({ path: '/api/ping', amount: PER_PHASE * 0.4 });
    served += await run({ path: '/auth/session', setup: bearer, amount: PER_PHASE * 0.4 });
    served += await run({ path: '/auth/oidc/backchannel-logout', method: 'POST', headers: form, setup: live, amount: LOGOUTS });
    served += await run({ path: '/auth/oidc/backchannel-logout', method: 'POST', headers: form, setup: nomatch, amount: LOGOUTS });
    const heap = await liveHeapMb(app);
    rows.push({ ...heap, served });
    console.log(`  ${phase === 0 ? 'warm-up' : `phase ${phase}`}: ${served.toLocaleString('en').padStart(9)} requests  live heap ${heap.used.toFixed(1).padStart(6)} MB  RSS ${heap.rss.toFixed(0)} MB`);
  }
  // Measured from the end of the warm-up (caches, prepared statements and JIT settled) to the last phase.
  const first = rows[0];
  const last = rows[rows.length - 1];
  const requests = last.served - first.served;
  const perHundredK = ((last.used - first.used) / requests) * 1e5;
  const steps = rows.slice(1).map((r, i) => r.used - rows[i].used);
  // Flat: the live heap moved by less than 2 % (or 1 MB) in all, or did not grow in every phase.
  const flat = Math.abs(last.used - first.used) < Math.max(1, first.used * 0.02) || !steps.every((d) => d > 0.2);
  console.log(
    `\n  live heap ${first.used.toFixed(1)} MB after the warm-up → ${last.used.toFixed(1)} MB after phase ${PHASES} ` +
      `(${requests.toLocaleString('en')} requests: ${perHundredK >= 0 ? '+' : ''}${perHundredK.toFixed(2)} MB per 10^5 requests; ` +
      `phase by phase ${steps.map((d) => `${d >= 0 ? '+' : ''}${d.toFixed(2)}`).join(', ')} MB)`,
  );
  console.log(`  MEMORY live heap ${flat ? 'flat' : 'NOT flat'} over ${requests.toLocaleString('en')} requests after the warm-up`);
}

runBench(main, children, () => rmSync(work, { recursive: true, force: true }));
