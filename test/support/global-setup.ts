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

export interface E2eEnvironment {
  /** The state store of this project's apps (vitest project e2e: redis, e2e-pg: postgres). */
  stateStore: 'redis' | 'postgres';
  databaseUrl: string;
  /** Set for the Redis project only. */
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

const ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DB_NAME = process.env.TEST_DB_NAME ?? 'oidc_rp_test';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15';

let op: ChildProcess | undefined;

/**
 * Fresh test database (migrated from migrations/), an empty Redis database (Redis project only), and
 * the development OpenID Provider on a free port with a client registered for the test app's ports.
 * The Postgres-state-store project has a database of its own, so the two projects never share state.
 */
export async function setup(project: TestProject): Promise<void> {
  const stateStore = project.config.env.E2E_STATE_STORE === 'postgres' ? 'postgres' : 'redis';
  const databaseUrl = await freshDatabase(stateStore === 'postgres' ? `${DB_NAME}_pg` : DB_NAME);
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
}

async function freshDatabase(name: string): Promise<string> {
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const ds = new DataSource(dataSourceOptions(url.href, MIGRATIONS));
  await ds.initialize();
  await ds.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
  await ds.runMigrations();
  await ds.destroy();
  return url.href;
}

/** Test users at the dev OP: `u1`…`u120` (verified email), `unverified1`…`unverified5`. */
function testUsers(): Record<string, unknown> {
  const users: Record<string, unknown> = {};
  for (let i = 1; i <= 120; i++) users[`u${i}`] = { password: `pw-u${i}`, email: `u${i}@example.com`, email_verified: true, name: `User ${i}` };
  for (let i = 1; i <= 5; i++) users[`unverified${i}`] = { password: `pw-unverified${i}`, email: `unverified${i}@example.com`, email_verified: false, name: `Unverified ${i}` };
  return users;
}
