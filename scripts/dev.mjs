// Runs the development OpenID Provider and the app together, for the demo (README's first command).
// Expects `npm run build` to have run; migrates the database first (safe on every start).
// Without DATABASE_URL it runs its own PostgreSQL (scripts/embedded-postgres.mjs) with its data in
// .data/postgres, so that the demo needs nothing but Node; with DATABASE_URL it uses that database.
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDatabase, startEmbeddedPostgres } from './embedded-postgres.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const appPort = process.env.PORT ?? '3000';
const opPort = process.env.DEV_IDP_PORT ?? '4000';
const appUrl = `http://localhost:${appPort}`;
const opUrl = `http://localhost:${opPort}`;
// A second provider for the demo ("Partner SSO", another dev OP process with its own keys and client,
// which authenticates with private_key_jwt), unless OIDC_PROVIDERS is set or DEV_PARTNER_IDP_PORT=0.
// On 127.0.0.1, not localhost, so the browser keeps the two OPs' cookies apart.
const partnerPort = process.env.DEV_PARTNER_IDP_PORT ?? '4001';
const partnerUrl = `http://127.0.0.1:${partnerPort}`;
const withPartner = partnerPort !== '0' && !process.env.OIDC_PROVIDERS && !process.env.OIDC_PROVIDERS_FILE;
const partnerKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const DATABASE = 'oidc_rp';
const EMBEDDED_PORT = 5433; // next to a system Postgres's 5432; a free port when taken

const env = {
  PORT: appPort,
  OIDC_ISSUER: opUrl,
  OIDC_CLIENT_ID: 'demo-app',
  OIDC_CLIENT_SECRET: 'demo-app-secret-change-me',
  OIDC_REDIRECT_URI: `${appUrl}/auth/oidc/callback`,
  OIDC_ALLOW_INSECURE_HTTP: 'true',
  OIDC_TOKEN_ENCRYPTION_KEYS: `dev:${randomBytes(32).toString('base64')}`,
  OIDC_POST_LOGOUT_REDIRECT_URI: `${appUrl}/logged-out`,
  OIDC_LOGIN_ERROR_URL: `${appUrl}/login-error`,
  OIDC_BIND_PAGE_URL: `${appUrl}/bind`,
  OIDC_PROVIDER_NAME: 'Company SSO (dev OP)',
  ...(withPartner
    ? {
        OIDC_PROVIDERS: JSON.stringify([
          {
            id: 'partner',
            name: 'Partner SSO (second dev OP)',
            issuer: partnerUrl,
            clientId: 'demo-partner-app',
            clientAuth: 'private_key_jwt',
            privateKeyJwk: { ...partnerKey.privateKey.export({ format: 'jwk' }), kid: 'demo-partner-key', alg: 'ES256' },
            redirectUri: `${appUrl}/auth/oidc/callback/partner`,
            postLogoutRedirectUri: `${appUrl}/logged-out`,
          },
        ]),
      }
    : {}),
  ...process.env,
};

/** @type {Promise<import('./embedded-postgres.mjs').EmbeddedPostgres> | undefined} */
let embeddedStart;
let stopping = false;
const children = [];

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  process.exitCode = code;
  const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
  await Promise.all(running.map((c) => new Promise((done) => { c.once('exit', done); c.kill('SIGTERM'); })));
  const embedded = await embeddedStart?.catch(() => undefined);
  await embedded?.stop();
  process.exit(code);
}
process.on('SIGINT', () => shutdown(130));
process.on('SIGTERM', () => shutdown(143));

try {
  if (process.env.DATABASE_URL) {
    const target = new URL(env.DATABASE_URL);
    console.log(`Postgres: DATABASE_URL (${target.host}${target.pathname})`);
    const admin = new URL(env.DATABASE_URL);
    admin.pathname = '/postgres';
    await ensureDatabase(admin.href, decodeURIComponent(target.pathname.slice(1)));
  } else {
    const dataDir = join(root, '.data', 'postgres');
    embeddedStart = startEmbeddedPostgres({ dataDir, port: EMBEDDED_PORT, fallbackToFreePort: true });
    const embedded = await embeddedStart;
    await ensureDatabase(embedded.url, DATABASE);
    env.DATABASE_URL = `postgres://postgres@127.0.0.1:${embedded.port}/${DATABASE}`;
    console.log(`Postgres: embedded, 127.0.0.1:${embedded.port}, data in .data/postgres (log: .data/postgres/embedded-postgres.log); set DATABASE_URL to use another`);
  }
} catch (error) {
  console.error(`Postgres is not available: ${error.message}`);
  if (process.env.DATABASE_URL) console.error('Is it running, and may user and host connect? (unset DATABASE_URL to run an embedded Postgres)');
  await shutdown(1);
}

if (!stopping) {
  const migrate = spawnSync(process.execPath, ['node_modules/typeorm/cli.js', 'migration:run', '-d', 'dist/data-source.js'], { cwd: root, env, stdio: 'inherit' });
  if (migrate.status !== 0) {
    console.error('migration failed');
    await shutdown(1);
  }
}

if (!stopping) {
  children.push(
    spawn(process.execPath, ['dev-idp/server.mjs'], { cwd: root, env: { DEV_IDP_POST_LOGOUT_REDIRECT_URIS: env.OIDC_POST_LOGOUT_REDIRECT_URI, ...env, DEV_IDP_PORT: opPort, DEV_IDP_APP_URL: appUrl }, stdio: 'inherit' }),
    spawn(process.execPath, ['dist/main.js'], { cwd: root, env, stdio: 'inherit' }),
  );
  if (withPartner) {
    const partnerEnv = {
      ...process.env,
      DEV_IDP_PORT: partnerPort,
      DEV_IDP_ISSUER: partnerUrl,
      DEV_IDP_CLIENT_ID: 'demo-partner-app',
      DEV_IDP_CLIENT_AUTH: 'private_key_jwt',
      DEV_IDP_CLIENT_JWKS: JSON.stringify({ keys: [{ ...partnerKey.publicKey.export({ format: 'jwk' }), kid: 'demo-partner-key', alg: 'ES256', use: 'sig' }] }),
      DEV_IDP_REDIRECT_URIS: `${appUrl}/auth/oidc/callback/partner`,
      DEV_IDP_POST_LOGOUT_REDIRECT_URIS: env.OIDC_POST_LOGOUT_REDIRECT_URI,
      DEV_IDP_BACKCHANNEL_LOGOUT_URI: `${appUrl}/auth/oidc/backchannel-logout/partner`,
    };
    delete partnerEnv.DEV_IDP_JWKS_FILE;
    children.push(spawn(process.execPath, ['dev-idp/server.mjs'], { cwd: root, env: partnerEnv, stdio: 'inherit' }));
    console.log(`partner dev OP: ${partnerUrl} (same users; provider "partner"; DEV_PARTNER_IDP_PORT=0 to run without it)`);
  }
  console.log(`app: ${appUrl}/auth/oidc/login   docs: ${appUrl}/docs   dev OP: ${opUrl} (users in dev-idp/users.json)`);
  for (const child of children) child.on('exit', (code) => shutdown(code ?? 1));
}
