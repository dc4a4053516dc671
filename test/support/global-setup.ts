import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import type { TestProject } from 'vitest/node';
import { MIGRATIONS } from '../../migrations';
import { dataSourceOptions } from '../../src/database.options';
import { freePort, startDevOp, stopDevOp } from './dev-op';
import { acquirePostgres, redisAnswers, releasePostgres } from './servers';

export interface E2eEnvironment {
  /** The state store of this project's apps (vitest project e2e: redis when it answers, e2e-pg: postgres). */
  stateStore: 'redis' | 'postgres';
  databaseUrl: string;
  /** Set when the apps use Redis. */
  redisUrl?: string;
  opUrl: string;
  appPorts: [number, number];
  clientId: string;
  clientSecret: string;
  jwksFile: string;
  workDir: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    e2e: E2eEnvironment;
  }
}

const DB_NAME = process.env.TEST_DB_NAME ?? 'oidc_rp_test';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15';

let op: ChildProcess | undefined;
let usesPostgres = false;

/**
 * Fresh test database (migrated from migrations/), an empty Redis database (Redis project only), and
 * the development OpenID Provider on a free port with a client registered for the test app's ports.
 * Postgres: TEST_PG_ADMIN_URL, else 127.0.0.1:5432, else an embedded one for this run. The Redis
 * project runs on the Postgres state store when no Redis answers. Each project has its own database.
 */
export async function setup(project: TestProject): Promise<void> {
  try {
    await start(project);
  } catch (error) {
    await teardown();
    throw error;
  }
}

async function start(project: TestProject): Promise<void> {
  const name = project.config.name ?? 'e2e';
  let stateStore: 'redis' | 'postgres' = project.config.env.E2E_STATE_STORE === 'postgres' ? 'postgres' : 'redis';
  if (stateStore === 'redis' && !(await redisAnswers(REDIS_URL))) {
    console.log(`[${name}] Redis: none answers at ${new URL(REDIS_URL).host}; this project runs on the Postgres state store`);
    stateStore = 'postgres';
  }
  const adminUrl = await acquirePostgres(name);
  usesPostgres = true;
  const databaseUrl = await freshDatabase(adminUrl, project.config.env.E2E_STATE_STORE === 'postgres' ? `${DB_NAME}_pg` : DB_NAME);
  if (stateStore === 'redis') {
    const redis = new Redis(REDIS_URL);
    await redis.flushdb();
    await redis.quit();
  }

  const [opPort, appPort, secondPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const workDir = mkdtempSync(join(tmpdir(), 'oidc-e2e-'));
  const jwksFile = join(workDir, 'op-jwks.json');
  const usersFile = join(workDir, 'users.json');
  writeFileSync(usersFile, JSON.stringify(testUsers()));
  const opUrl = `http://127.0.0.1:${opPort}`;
  const apps = [appPort, secondPort].map((p) => `http://127.0.0.1:${p}`);
  const clientId = 'e2e-app';
  const clientSecret = 'e2e-app-secret';

  op = await startDevOp({
    DEV_IDP_PORT: String(opPort),
    DEV_IDP_ISSUER: opUrl,
    DEV_IDP_CLIENT_ID: clientId,
    DEV_IDP_CLIENT_SECRET: clientSecret,
    DEV_IDP_REDIRECT_URIS: apps.flatMap((a) => [`${a}/auth/oidc/callback`, `${a}/api/auth/oidc/callback`]).join(','),
    DEV_IDP_POST_LOGOUT_REDIRECT_URIS: apps.map((a) => `${a}/logged-out`).join(','),
    DEV_IDP_BACKCHANNEL_LOGOUT_URI: `${apps[0]}/auth/oidc/backchannel-logout`,
    DEV_IDP_JWKS_FILE: jwksFile,
    DEV_IDP_USERS_FILE: usersFile,
  });

  const redisUrl = stateStore === 'redis' ? REDIS_URL : undefined;
  project.provide('e2e', { stateStore, databaseUrl, redisUrl, opUrl, appPorts: [appPort, secondPort], clientId, clientSecret, jwksFile, workDir });
}

export async function teardown(): Promise<void> {
  if (op) await stopDevOp(op);
  op = undefined;
  if (usesPostgres) await releasePostgres();
  usesPostgres = false;
}

async function freshDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const ds = new DataSource(dataSourceOptions(url.href, MIGRATIONS));
  await ds.initialize();
  await ds.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
  await ds.runMigrations();
  await ds.destroy();
  return url.href;
}

/** Test users at the dev OP: `u1`…`u200` (verified email), `unverified1`…`unverified5`. */
function testUsers(): Record<string, unknown> {
  const users: Record<string, unknown> = {};
  for (let i = 1; i <= 200; i++) users[`u${i}`] = { password: `pw-u${i}`, email: `u${i}@example.com`, email_verified: true, name: `User ${i}` };
  for (let i = 1; i <= 5; i++) users[`unverified${i}`] = { password: `pw-unverified${i}`, email: `unverified${i}@example.com`, email_verified: false, name: `Unverified ${i}` };
  return users;
}
