import { spawn } from 'node:child_process';
import type { INestApplication } from '@nestjs/common';
import { Client } from 'pg';
import { inject } from 'vitest';
import { createApp } from '../../src/app.factory';
import { type Env, loadAppConfig } from '../../src/config/app-config';
import { TokenCipher } from '../../src/oidc/crypto/token-cipher';
import { type StateInspector, stateInspector } from './state';

/** One fixed key for the tests, so that a test can decrypt what the vault holds and check it. */
export const TEST_KEY = { id: 'test1', key: Buffer.from('0123456789abcdef0123456789abcdef') };

export function e2e() {
  return inject('e2e');
}

export function appUrl(index = 0): string {
  return `http://127.0.0.1:${e2e().appPorts[index]}`;
}

/**
 * The environment of a test app: the dev OP, the test database, and the project's state store
 * (Redis: the test Redis database; Postgres: no REDIS_URL at all, whatever the shell has).
 */
export function testEnv(overrides: Env = {}, index = 0): Env {
  const env = e2e();
  return {
    PORT: String(env.appPorts[index]),
    DATABASE_URL: env.databaseUrl,
    STATE_STORE: env.stateStore,
    REDIS_URL: env.redisUrl,
    OIDC_ISSUER: env.opUrl,
    OIDC_CLIENT_ID: env.clientId,
    OIDC_CLIENT_SECRET: env.clientSecret,
    OIDC_REDIRECT_URI: `${appUrl(index)}/auth/oidc/callback`,
    OIDC_ALLOW_INSECURE_HTTP: 'true',
    OIDC_TOKEN_ENCRYPTION_KEYS: `${TEST_KEY.id}:${TEST_KEY.key.toString('base64')}`,
    OIDC_POST_LOGOUT_REDIRECT_URI: `${appUrl(index)}/logged-out`,
    OIDC_UNLINKED_IDENTITY: 'create',
    OIDC_BIND_PAGE_URL: `${appUrl(index)}/bind`,
    // The suites sign in hundreds of times a minute from 127.0.0.1; the rate-limit suite sets its own.
    OIDC_RATE_LIMIT: '100000/1m',
    OIDC_BACKCHANNEL_RATE_LIMIT: '100000/1m',
    ...overrides,
  };
}

export interface RunningApp {
  app: INestApplication;
  url: string;
  /**
   * Every log line written in this test file (JSON). Nest's Logger is process-wide, so with two
   * apps in one process the lines of both land here.
   */
  logs: string[];
  close(): Promise<void>;
}

/** Boots the real AppModule (as main.ts does) listening on a test port. */
export async function startApp(overrides: Env = {}, index = 0): Promise<RunningApp> {
  const config = loadAppConfig(testEnv(overrides, index));
  const logs = capturedLogs;
  const app = await createApp(config, { destination: { write: (line: string) => void logs.push(line.trimEnd()) }, level: 'debug' });
  await app.listen(config.port, '127.0.0.1');
  return { app, url: appUrl(index), logs, close: () => app.close() };
}

/** Reads the state store behind the test apps (Redis or `state_entries`, per project). */
export function testState(): StateInspector {
  return stateInspector(e2e());
}

/** Skips a suite that needs Redis itself on the Postgres-state-store project, and says why. */
export function needsRedis(suite: string): boolean {
  if (e2e().stateStore === 'redis') return true;
  console.warn(`[${e2e().stateStore} state store] SKIPPED "${suite}": it needs Redis itself, and this project's apps use the Postgres state store`);
  return false;
}

export async function withDb<T>(work: (db: Client) => Promise<T>): Promise<T> {
  const db = new Client({ connectionString: e2e().databaseUrl });
  await db.connect();
  try {
    return await work(db);
  } finally {
    await db.end();
  }
}

const capturedLogs: string[] = [];

export const testCipher = new TokenCipher([TEST_KEY]);

/** Decrypts what the vault holds for a session, with the test key. */
export async function vaultToken(state: StateInspector, sessionId: string, kind: 'id_token' | 'refresh_token' | 'access_token'): Promise<string | undefined> {
  const owner = `session:${sessionId}`;
  const stored = await state.get(`oidc:vault:{${owner}}:${kind}`);
  return stored ? testCipher.decrypt(stored, `${owner}:${kind}`) : undefined;
}

export function decodeJwt(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

/** A response's JSON body, loosely typed for assertions. */
export async function jsonBody(response: Response): Promise<any> {
  return response.json();
}

/**
 * Runs the built app (`node dist/main.js`, as in production) in its own process: what a second
 * instance behind a load balancer is. `npm test` builds first.
 */
export async function startAppProcess(overrides: Env = {}, index = 1): Promise<RunningApp> {
  const logs: string[] = [];
  const child = spawn(process.execPath, ['dist/main.js'], { env: { ...process.env, ...testEnv(overrides, index) }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (chunk: Buffer) => logs.push(...chunk.toString().split('\n').filter(Boolean)));
  child.stderr.on('data', (chunk: Buffer) => logs.push(...chunk.toString().split('\n').filter(Boolean)));
  const url = appUrl(index);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`app process exited: ${logs.join('\n')}`);
    try {
      if ((await fetch(`${url}/auth/session`)).status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`app process did not start: ${logs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    app: undefined as unknown as INestApplication,
    url,
    logs,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
