// Benchmark: throughput per core. Runs the built app (node dist/main.js) pinned to CPU 1 with
// `taskset`, drives it from this process pinned to CPU 0 (autocannon, keep-alive), and prints, per
// round and as the median of the rounds:
//   - back-channel logouts/s (unique, validly signed logout tokens; by sid, for a seeded live session
//     and for a random sid that matches nothing), next to a bare `jose.jwtVerify` loop on the same
//     tokens in a process pinned to the same CPU; live sessions again through Express and the Nest
//     route (`…/backchannel-logout/`, which the direct path leaves to Express);
//   - the same live-session tokens posted to express-openid-connect's `backchannelLogout` handler
//     (bench/peers/eoc-backchannel-server.mjs: Express, Redis store), pinned to the same CPU: the peer
//     of issue 10's first target (ours ≥ 1.5× of it per core);
//   - the duel: the same kind of live-session tokens to the app and to the peer in short alternating
//     chunks (10 a round), each side's CPU time summed over the whole duel: both sides meet the same
//     machine at the same moments, so this ratio does not depend on which step ran before which;
//   - authenticated `GET /auth/session` (Bearer) vs the unguarded host route `GET /api/ping`, as two
//     steps and as the pair (alternating chunks of 2,500 requests, CPU summed per side, like the duel).
// Rounds alternate the measurements so that the noise of a shared machine cancels out in the ratios.
//   npm run build && npm run bench:throughput [-- --rounds 4 --duration 5 --logouts 2500 --chunks 10 --store redis --profile]
// With --profile the app runs under `node --cpu-prof` (profiles in the printed directory); with
// `--node-flags '<flags>'` under those Node/V8 flags (e.g. `--perf-basic-prof`, `--trace-deopt`), and
// `--app-out <file>` keeps the app's stdout (its log lines, V8's traces) instead of draining it.
// Every measured request of the peer follows a warm-up of it (see `warmPeer`): a process idle for a
// while runs its first requests slower (cold caches, code V8 dropped), and the peer is idle whenever
// the app's own steps run, so without it its figures depended on the order of the steps.
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { createLocalJWKSet, importJWK, jwtVerify } from 'jose';
import { appEnv, freshDatabase, logoutToken, runBench, seed, tokenOf, waitFor } from './support.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '4' },
    duration: { type: 'string', default: '5' },
    logouts: { type: 'string', default: '2500' },
    connections: { type: 'string', default: '10' },
    store: { type: 'string', default: 'redis' },
    profile: { type: 'boolean', default: false },
    /** Comma-separated subset of ping,session,nomatch,live,nest,eoc,duel,pair,verify (e.g. to profile one path). */
    only: { type: 'string', default: 'ping,session,nomatch,live,nest,eoc,duel,pair,verify' },
    /** The duel's chunks a round (live logouts to the app and to the peer, alternating). */
    chunks: { type: 'string', default: '10' },
    'node-flags': { type: 'string', default: '' },
    'app-out': { type: 'string' },
    'verify-worker': { type: 'string' },
    /** A second instance of the app (B) under these extra environment variables (`KEY=VALUE …`), or built in `--ab-dist`: the `ab` step duels it against the first (A). */
    ab: { type: 'string' },
    'ab-dist': { type: 'string' },
  },
});

const ISSUER_PORT = 4791;
const APP_PORT = 3791;
const EOC_PORT = 3792;
const AB_PORT = 3793;
const AB = `http://127.0.0.1:${AB_PORT}`;
const EOC = `http://127.0.0.1:${EOC_PORT}`;
const ISSUER = `http://127.0.0.1:${ISSUER_PORT}`;
const APP = `http://127.0.0.1:${APP_PORT}`;
const CLIENT = 'bench-app';
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

// The bare verify loop, run as a child pinned to the app's CPU: `--verify-worker <file>` holds the JWKS
// and the tokens. Same options as the app's verifier (issuer, audience, algorithms, required claims).
if (values['verify-worker']) {
  const { jwks, tokens } = JSON.parse(readFileSync(values['verify-worker'], 'utf8'));
  const keys = createLocalJWKSet(jwks);
  const options = { issuer: ISSUER, audience: CLIENT, algorithms: ALGORITHMS, clockTolerance: 5, requiredClaims: ['iss', 'aud', 'iat', 'exp'] };
  for (const t of tokens.slice(0, 200)) await jwtVerify(t, keys, options);
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  for (const t of tokens) await jwtVerify(t, keys, options);
  const used = process.cpuUsage(cpu);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(JSON.stringify({ perCpuSecond: tokens.length / ((used.user + used.system) / 1e6), perSecond: tokens.length / seconds }));
  process.exit(0);
}

const ROUNDS = Number(values.rounds);
const DURATION = Number(values.duration);
const LOGOUTS = Number(values.logouts);
const CONNECTIONS = Number(values.connections);
const ADMIN = process.env.BENCH_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB = process.env.BENCH_DB ?? 'oidc_rp_perf';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/8';
const dbUrl = ADMIN.replace(/\/[^/]*$/, `/${DB}`);
const work = mkdtempSync(join(tmpdir(), 'oidc-throughput-'));
const jwksFile = join(work, 'jwks.json');
const children = [];
/** Sessions 0..READERS-1 serve GET /auth/session; the ones after them are logged out by sid, once each. */
const READERS = 1000;
/** Logouts a side gets, unmeasured, before the peer's measured steps (see `warmPeer`). */
const WARM_UP = 250;

// This process (and autocannon in it) on CPU 0, the app on CPU 1.
spawnSync('taskset', ['-a', '-cp', '0', String(process.pid)], { stdio: 'ignore' });

function start(args, env, { cpu, stdout = 'ignore' } = {}) {
  const [cmd, argv] = cpu === undefined ? [process.execPath, args] : ['taskset', ['-c', String(cpu), process.execPath, ...args]];
  const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', stdout, 'inherit'] });
  // Log lines go through a pipe as in production (to a collector), and are drained here (or kept: --app-out).
  if (stdout === 'pipe' && values['app-out']) child.stdout.pipe(createWriteStream(values['app-out']));
  else if (stdout === 'pipe') child.stdout.resume();
  children.push(child);
  return child;
}

/** Runs autocannon; `next()` gives each request's body or header. Returns requests/s and checks every status. */
async function load({ path, method = 'GET', headers = {}, setup, amount, duration, base = APP, pid = appPid }) {
  const cpuBefore = cpuSeconds(pid);
  const started = process.hrtime.bigint();
  let last = started;
  const result = await new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${base}${path}`,
        connections: CONNECTIONS,
        pipelining: 1,
        ...(amount ? { amount } : { duration }),
        requests: [{ method, headers, ...(setup ? { setupRequest: setup } : {}) }],
      },
      (error, r) => (error ? reject(error) : resolve(r)),
    );
    // autocannon ends on its 1 s tick: the rate is taken up to the last response instead.
    instance.on('response', () => (last = process.hrtime.bigint()));
  });
  const seconds = Number(last - started) / 1e9;
  served += result.requests.total;
  const cpu = cpuSeconds(pid) - cpuBefore;
  const bad = result.non2xx + result.errors + result.timeouts;
  if (bad > 0) throw new Error(`${method} ${path}: ${bad} failed requests (non-2xx ${result.non2xx}, errors ${result.errors})`);
  // Per core: requests per second of the app's own CPU time (what other processes on the machine take
  // from it does not count); per second of wall time as a check.
  return { perCpuSecond: result.requests.total / cpu, perSecond: result.requests.total / seconds, requests: result.requests.total, cpu };
}

async function logouts(bodies, { path = '/auth/oidc/backchannel-logout', ...target } = {}) {
  let i = 0;
  return load({
    ...target,
    path,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    setup: (req) => ({ ...req, body: bodies[i++] }),
    amount: bodies.length,
  });
}

/**
 * Live-session logouts to two servers in short alternating chunks (`--chunks`, the first side first in
 * one chunk and the second first in the next): both meet the same machine for the same few seconds,
 * whatever the shared core is doing meanwhile. Each side (`{ bodies, warm, target }`, `target` as for
 * `logouts`) is warmed with its own `warm` logouts first, and its CPU time is taken over the whole duel
 * (what a chunk leaves behind, a GC or a deferred write, is counted on its own side). Returns each
 * side's logouts per CPU-second.
 */
async function cpuDuel(first, second) {
  for (const side of [first, second]) await logouts(side.warm, side.target);
  const size = Math.ceil(first.bodies.length / Number(values.chunks));
  const pidOf = (side) => side.target.pid ?? appPid;
  const before = [first, second].map((side) => cpuSeconds(pidOf(side)));
  await alternating([first, second].map((side) => (c) => logouts(side.bodies.slice(c * size, (c + 1) * size), side.target)));
  return [first, second].map((side, i) => side.bodies.length / (cpuSeconds(pidOf(side)) - before[i]));
}

/**
 * The same kind of live-session tokens to the app and to express-openid-connect (`cpuDuel`; the peer has
 * no replay check, so both are warmed with the same tokens). Returns ours per core ÷ the peer's per core.
 */
async function duel(bodies, warm) {
  const [ours, peer] = await cpuDuel({ bodies, warm, target: {} }, { bodies, warm, target: { path: '/backchannel-logout', base: EOC, pid: eocPid } });
  return { perCpuSecond: ours, peerPerCpuSecond: peer, ratio: ours / peer };
}

/**
 * The A/B duel (`--ab`): live-session logouts to the app (A) and to its second instance (B), like the
 * duel. Both share the database and the state store (two instances of one deployment). Returns B's
 * logouts per CPU-second ÷ A's.
 */
async function abDuel(a, b, warmA, warmB) {
  const [perA, perB] = await cpuDuel({ bodies: a, warm: warmA, target: {} }, { bodies: b, warm: warmB, target: { base: AB, pid: abPid } });
  return { ratio: perB / perA, a: perA, b: perB };
}

/**
 * Logouts to the peer that are not measured, right before a measured step of it: the peer sits idle
 * while the app's steps run, and its first requests after a pause cost it ≈ 30–40 % more CPU (measured:
 * its duel rate alternated 840–990/s vs 1,100–1,290/s with the step before the duel, which made the
 * duel's ratio alternate 1.45× / 1.09×). It has no replay check: the app's warm-up tokens do.
 */
async function warmPeer(warm) {
  await logouts(warm, { path: '/backchannel-logout', base: EOC, pid: eocPid });
}

/** `--chunks` chunks, each running both `sides` (chunk number given), the first first in one chunk and last in the next. */
async function alternating(sides) {
  const chunks = Number(values.chunks);
  for (let c = 0; c < chunks; c++) for (const side of c % 2 ? [...sides].reverse() : sides) await side(c);
}

/**
 * `GET /auth/session` and `GET /api/ping` the same way: short alternating chunks (2,500 requests each,
 * `--chunks` a round), the CPU time of each summed over its chunks. Returns session ÷ ping per core.
 */
async function sessionPair(bearer) {
  const sides = { ping: { requests: 0, cpu: 0 }, session: { requests: 0, cpu: 0 } };
  const add = (side, { requests, cpu }) => {
    side.requests += requests;
    side.cpu += cpu;
  };
  await alternating([
    async () => add(sides.ping, await load({ path: '/api/ping', amount: 2500 })),
    async () => add(sides.session, await load({ path: '/auth/session', setup: bearer, amount: 2500 })),
  ]);
  const perCpu = (side) => side.requests / side.cpu;
  return { ratio: perCpu(sides.session) / perCpu(sides.ping), session: perCpu(sides.session), ping: perCpu(sides.ping) };
}

async function verifyLoop(jwks, tokens) {
  const file = join(work, `verify-${randomUUID()}.json`);
  writeFileSync(file, JSON.stringify({ jwks, tokens }));
  const child = spawn('taskset', ['-c', '1', process.execPath, new URL(import.meta.url).pathname, '--verify-worker', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await new Promise((resolve) => child.on('exit', resolve));
  return JSON.parse(out);
}

/** CPU seconds (user + system) a process has used so far, from /proc (clock ticks of 10 ms). */
let appPid;
let eocPid;
let abPid;
/** Requests the app has answered so far (for the memory line). */
let served = 0;
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Resident memory of the app, in MB. */
function appRssMb() {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${appPid}/status`, 'utf8'))[1]) / 1024;
}

const median = (xs) => {
  const sorted = xs.filter((x) => typeof x === 'number' && !Number.isNaN(x)).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const fmt = (n) => (n === undefined ? '     -' : n.toFixed(0).padStart(6));
const fx = (n, digits) => (n === undefined ? '-' : n.toFixed(digits));

async function main() {
  const only = new Set(values.only.split(','));
  if (values.ab !== undefined || values['ab-dist']) only.add('ab');
  // Live sessions a round: the direct path, the Nest route and the duel (and its warm-up); with --ab,
  // both sides of the A/B duel and their warm-ups.
  const total = READERS + (ROUNDS + 1) * (LOGOUTS * 3 + WARM_UP + (only.has('ab') ? LOGOUTS * 2 + WARM_UP * 2 : 0));
  await freshDatabase(ADMIN, DB, dbUrl);
  await seed(dbUrl, ISSUER, total);
  start(['dev-idp/server.mjs'], { DEV_IDP_PORT: String(ISSUER_PORT), DEV_IDP_ISSUER: ISSUER, DEV_IDP_CLIENT_ID: CLIENT, DEV_IDP_JWKS_FILE: jwksFile, DEV_IDP_APP_URL: APP }, { cpu: 0 });
  await waitFor(`${ISSUER}/.well-known/openid-configuration`, (s) => s === 200);
  const jwk = JSON.parse(readFileSync(jwksFile, 'utf8')).keys[0];
  const key = await importJWK(jwk, 'RS256');
  const publicJwks = { keys: [{ kty: jwk.kty, n: jwk.n, e: jwk.e, kid: jwk.kid, alg: jwk.alg, use: jwk.use }] };

  const profileDir = join(work, 'profile');
  // Under --profile, SIGUSR2 ends the app with process.exit() so that --cpu-prof writes its profile.
  const profiling = values.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--import', 'data:text/javascript,process.on("SIGUSR2",()=>process.exit(0))'] : [];
  const nodeFlags = values['node-flags'].split(' ').filter(Boolean);
  const app = start([...profiling, ...nodeFlags, 'dist/main.js'], appEnv({ port: APP_PORT, dbUrl, issuer: ISSUER, clientId: CLIENT, store: values.store, redisUrl: REDIS_URL }), { cpu: 1, stdout: 'pipe' });
  appPid = app.pid;
  await waitFor(`${APP}/health`, (s) => s === 200);
  if (only.has('ab')) {
    const extra = Object.fromEntries((values.ab ?? '').split(' ').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    const dist = values['ab-dist'] ?? 'dist';
    abPid = start([...nodeFlags, `${dist}/main.js`], { ...appEnv({ port: AB_PORT, dbUrl, issuer: ISSUER, clientId: CLIENT, store: values.store, redisUrl: REDIS_URL }), ...extra }, { cpu: 1, stdout: 'pipe' }).pid;
    await waitFor(`${AB}/health`, (s) => s === 200);
    console.log(`A/B: B = ${dist}/main.js with ${JSON.stringify(extra)}`);
  }
  if (only.has('eoc') || only.has('duel')) {
    eocPid = start(['bench/peers/eoc-backchannel-server.mjs'], { EOC_PORT: String(EOC_PORT), EOC_ISSUER: ISSUER, EOC_CLIENT_ID: CLIENT, EOC_REDIS_URL: REDIS_URL }, { cpu: 1 }).pid;
    await waitFor(`${EOC}/ping`, (s) => s === 200);
  }

  console.log(`pre-signing ${(ROUNDS + 1) * (LOGOUTS * 4 + WARM_UP)} logout tokens…`);
  let nextLive = READERS;
  const batch = async (live, count = LOGOUTS) => {
    const out = [];
    for (let n = 0; n < count; n++) {
      const sid = live ? `bench-sid-${nextLive++}` : `nomatch-${randomUUID()}`;
      out.push(new URLSearchParams({ logout_token: await logoutToken(key, jwk.kid, { issuer: ISSUER, audience: CLIENT, sid }) }).toString());
    }
    return out;
  };
  const batches = [];
  for (let r = 0; r <= ROUNDS; r++) {
    batches.push({ live: await batch(true), nest: await batch(true), nomatch: await batch(false), duel: await batch(true), warm: await batch(true, WARM_UP) });
    if (only.has('ab')) Object.assign(batches[r], { abA: await batch(true), abB: await batch(true), warmA: await batch(true, WARM_UP), warmB: await batch(true, WARM_UP) });
  }
  const verifyTokens = batches[0].nomatch.map((b) => new URLSearchParams(b).get('logout_token'));

  let reader = 0;
  const bearer = (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokenOf(reader++ % READERS)}` } });
  const rows = [];
  let rssAfterWarmUp;
  for (let r = 0; r <= ROUNDS; r++) {
    const warm = r === 0;
    const duration = warm ? 2 : DURATION;
    const round = {};
    // Alternate the order from round to round.
    const steps = [
      ['ping', async () => (round.ping = await load({ path: '/api/ping', duration }))],
      ['session', async () => (round.session = await load({ path: '/auth/session', setup: bearer, duration }))],
      ['nomatch', async () => (round.nomatch = await logouts(batches[r].nomatch))],
      ['live', async () => (round.live = await logouts(batches[r].live))],
      // The same endpoint through Express and the Nest route: the trailing slash is not the direct
      // path's exact path (the demo app turns the direct path on), Express matches it to the route.
      ['nest', async () => (round.nest = await logouts(batches[r].nest, { path: '/auth/oidc/backchannel-logout/' }))],
      // The same tokens as ours (it has no replay check); it records them by `iss|sid`.
      ['eoc', async () => {
        await warmPeer(batches[r].warm);
        round.eoc = await logouts(batches[r].live, { path: '/backchannel-logout', base: EOC, pid: eocPid });
      }],
      ['duel', async () => (round.duel = await duel(batches[r].duel, batches[r].warm))],
      ['pair', async () => (round.pair = await sessionPair(bearer))],
      ['ab', async () => (round.ab = await abDuel(batches[r].abA, batches[r].abB, batches[r].warmA, batches[r].warmB))],
      ['verify', async () => (round.verify = await verifyLoop(publicJwks, verifyTokens))],
    ]
      .filter(([name]) => only.has(name))
      .map(([, step]) => step);
    // Between steps a pause: work the previous step left behind (a server finishing its last requests'
    // clean-up, a GC) must not land on the CPU time of the next one, which shares the core.
    for (const step of r % 2 ? steps.reverse() : steps) {
      await step();
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    if (warm) {
      rssAfterWarmUp = { mb: appRssMb(), served };
      continue;
    }
    rows.push(round);
    const c = (k) => round[k]?.perCpuSecond;
    console.log(
      `round ${r}: per app-CPU-second: ping ${fmt(c('ping'))}  session ${fmt(c('session'))} (${(c('session') / c('ping')).toFixed(2)}×)  ` +
        `logout live ${fmt(c('live'))} (duel ${fmt(c('duel'))} vs eoc ${fmt(round.duel?.peerPerCpuSecond)}: ${round.duel?.ratio?.toFixed(2) ?? '-'}×)  no-match ${fmt(c('nomatch'))}  via Nest route ${fmt(c('nest'))}  eoc ${fmt(c('eoc'))} (${(c('live') / c('eoc')).toFixed(2)}×)  bare jwtVerify ${fmt(c('verify'))}   ` +
        `pair ${round.pair?.ratio?.toFixed(2) ?? '-'}×   ${round.ab ? `A/B: A ${fmt(round.ab.a)} B ${fmt(round.ab.b)} (B÷A ${round.ab.ratio.toFixed(3)}×)   ` : ''}| wall/s: ping ${fmt(round.ping?.perSecond)} session ${fmt(round.session?.perSecond)} live ${fmt(round.live?.perSecond)} no-match ${fmt(round.nomatch?.perSecond)} eoc ${fmt(round.eoc?.perSecond)}`,
    );
  }
  const m = (k, unit = 'perCpuSecond') => median(rows.map((r) => r[k]?.[unit]));
  // A ratio is taken over a pair of rounds (1+2, 3+4, …; a last odd round alone): the step order is
  // reversed from one round to the next, and a step pays on the shared core for what the step before
  // it left (its garbage), so one round's ratio is biased one way and the next round's the other way.
  // The geometric mean of the two cancels that; the median is then taken over the pairs.
  const mr = (a, b, unit = 'perCpuSecond') => {
    const ratios = rows.map((r) => r[a]?.[unit] / r[b]?.[unit]);
    const pairs = [];
    for (let i = 0; i < ratios.length; i += 2) pairs.push(i + 1 < ratios.length ? Math.sqrt(ratios[i] * ratios[i + 1]) : ratios[i]);
    return median(pairs);
  };
  console.log(`\nmedian of ${ROUNDS} rounds (ratios: median over pairs of rounds), app pinned to CPU 1 (${values.store} state store, ${CONNECTIONS} connections); per core = per second of the app's CPU time:`);
  console.log(`  back-channel logouts/s per core, live session by sid : ${fmt(m('live'))}   (${fx(mr('live', 'verify'), 3)} × bare jwtVerify; wall ${fmt(m('live', 'perSecond'))}/s)`);
  console.log(`  back-channel logouts/s per core, sid matches nothing : ${fmt(m('nomatch'))}   (${fx(mr('nomatch', 'verify'), 3)} × bare jwtVerify; wall ${fmt(m('nomatch', 'perSecond'))}/s)`);
  console.log(`  the same, live session, through Express + Nest route : ${fmt(m('nest'))}   (POST …/backchannel-logout/ ; wall ${fmt(m('nest', 'perSecond'))}/s)`);
  console.log(`  express-openid-connect backchannelLogout/s per core   : ${fmt(m('eoc'))}   (Express, Redis store, same tokens; wall ${fmt(m('eoc', 'perSecond'))}/s)`);
  console.log(`  bare jose.jwtVerify/s on the same core               : ${fmt(m('verify'))}`);
  console.log(`  CPU ms per logout: live ${(1000 / m('live')).toFixed(3)}, no match ${(1000 / m('nomatch')).toFixed(3)}, through the Nest route ${(1000 / m('nest')).toFixed(3)}, of which the signature check ${(1000 / m('verify')).toFixed(3)}`);
  console.log(`  RATIO back-channel logout (live session) ÷ express-openid-connect, per core: ${fx(mr('live', 'eoc'), 2)}×   (no match: ${fx(mr('nomatch', 'eoc'), 2)}×; through the Nest route: ${fx(mr('nest', 'eoc'), 2)}×; wall: ${fx(mr('live', 'eoc', 'perSecond'), 2)}×)   target ≥ 1.5×`);
  console.log(`  RATIO the duel (live logouts, app and peer alternating in ${values.chunks} chunks a round), ours ÷ express-openid-connect per core: ${median(rows.map((r) => r.duel?.ratio))?.toFixed(2) ?? '-'}×   (rounds ${rows.map((r) => r.duel?.ratio?.toFixed(2)).join(', ')}; ours ${fmt(m('duel'))}/s, peer ${fmt(median(rows.map((r) => r.duel?.peerPerCpuSecond)))}/s)   target ≥ 1.5×`);
  console.log(`  RATIO the pair (GET /auth/session and GET /api/ping alternating in ${values.chunks} chunks a round), per core: ${median(rows.map((r) => r.pair?.ratio))?.toFixed(2) ?? '-'}×   (rounds ${rows.map((r) => r.pair?.ratio?.toFixed(2)).join(', ')}; session ${fmt(median(rows.map((r) => r.pair?.session)))}/s, ping ${fmt(median(rows.map((r) => r.pair?.ping)))}/s)   target ≥ 0.7×`);
  console.log(`  RATIO GET /auth/session (Bearer) ${fmt(m('session'))}/s ÷ GET /api/ping ${fmt(m('ping'))}/s, per core: ${fx(mr('session', 'ping'), 2)}×   (wall: ${fx(mr('session', 'ping', 'perSecond'), 2)}×)   target ≥ 0.7×`);
  if (only.has('ab')) {
    console.log(`  RATIO A/B (live logouts, A and B alternating in ${values.chunks} chunks a round), B ÷ A per core: ${median(rows.map((r) => r.ab?.ratio))?.toFixed(3)}×   (rounds ${rows.map((r) => r.ab?.ratio?.toFixed(3)).join(', ')}; A ${fmt(median(rows.map((r) => r.ab?.a)))}/s, B ${fmt(median(rows.map((r) => r.ab?.b)))}/s)`);
  }
  console.log(
    `  app memory (RSS): ${rssAfterWarmUp.mb.toFixed(0)} MB after the warm-up round (${rssAfterWarmUp.served.toLocaleString('en')} requests), ` +
      `${appRssMb().toFixed(0)} MB after ${served.toLocaleString('en')} requests`,
  );
  if (values.profile) {
    app.kill('SIGUSR2');
    await new Promise((r) => app.once('exit', r));
    console.log(`  CPU profile of the app: ${profileDir}`);
  }
}

runBench(main, children);
