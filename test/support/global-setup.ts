import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import type { TestProject } from 'vitest/node';
import { MIGRATIONS } from '../../migrations';
import { type EmbeddedPostgres, startEmbeddedPostgres, tcpAnswers } from '../../scripts/embedded-postgres.mjs';
import { dataSourceOptions } from '../../src/database.options';
import { freePort, startDevOp, stopDevOp } from './dev-op';

export interface E2eEnvironment {
  databaseUrl: string;
  redisUrl: string;
  opUrl: string;
  appPorts: [number, number];
  clientId: string;
  clientSecret: string;
  jwksFile: string;
  workDir: string;
  /** Whether the test Redis answered PING at setup; suites may choose another state store when not. */
  redisAvailable: boolean;
}

declare module 'vitest' {
  export interface ProvidedContext {
    e2e: E2eEnvironment;
  }
}

const SYSTEM_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const DB_NAME = process.env.TEST_DB_NAME ?? 'oidc_rp_test';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/15';

let op: ChildProcess | undefined;
let embedded: EmbeddedPostgres | undefined;

/**
 * Fresh test database (migrated from migrations/), an empty Redis database, and the development
 * OpenID Provider on a free port with a client registered for the test app's ports. Postgres:
 * TEST_PG_ADMIN_URL, else the one on 127.0.0.1:5432, else an embedded one for this run only.
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
  const databaseUrl = await freshDatabase(await adminUrl());
  const redisAvailable = await redisAnswers(REDIS_URL);
  if (redisAvailable) {
    const redis = new Redis(REDIS_URL);
    await redis.flushdb();
    await redis.quit();
  } else {
    console.log(`[e2e] Redis: none answers at ${REDIS_URL}`);
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

  project.provide('e2e', { databaseUrl, redisUrl: REDIS_URL, opUrl, appPorts: [appPort, secondPort], clientId, clientSecret, jwksFile, workDir, redisAvailable });
}

export async function teardown(): Promise<void> {
  if (op) await stopDevOp(op);
  op = undefined;
  if (embedded) {
    await embedded.stop();
    rmSync(embedded.dataDir, { recursive: true, force: true });
    embedded = undefined;
  }
}

async function adminUrl(): Promise<string> {
  if (process.env.TEST_PG_ADMIN_URL) {
    console.log(`[e2e] Postgres: TEST_PG_ADMIN_URL (${new URL(process.env.TEST_PG_ADMIN_URL).host})`);
    return process.env.TEST_PG_ADMIN_URL;
  }
  if (await tcpAnswers('127.0.0.1', 5432, 500)) {
    console.log('[e2e] Postgres: 127.0.0.1:5432');
    return SYSTEM_ADMIN_URL;
  }
  const started = Date.now();
  embedded = await startEmbeddedPostgres({ dataDir: mkdtempSync(join(tmpdir(), 'oidc-e2e-pg-')) });
  console.log(`[e2e] Postgres: none on 127.0.0.1:5432, embedded on 127.0.0.1:${embedded.port} for this run (started in ${Date.now() - started} ms)`);
  return embedded.url;
}

/** A PING answered within a second, no retries. */
async function redisAnswers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

async function freshDatabase(adminUrl: string): Promise<string> {
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB_NAME]);
  if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${DB_NAME}"`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${DB_NAME}`;
  const ds = new DataSource(dataSourceOptions(url.href, MIGRATIONS));
  await ds.initialize();
  await ds.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
  await ds.runMigrations();
  await ds.destroy();
  return url.href;
}

/** Test users at the dev OP: `u1`…`u60` (verified email), `unverified1`…`unverified5`. */
function testUsers(): Record<string, unknown> {
  const users: Record<string, unknown> = {};
  for (let i = 1; i <= 60; i++) users[`u${i}`] = { password: `pw-u${i}`, email: `u${i}@example.com`, email_verified: true, name: `User ${i}` };
  for (let i = 1; i <= 5; i++) users[`unverified${i}`] = { password: `pw-unverified${i}`, email: `unverified${i}@example.com`, email_verified: false, name: `Unverified ${i}` };
  return users;
}
