// Runs the development OpenID Provider and the app together, for the demo (README's first command).
// Expects `npm run build` to have run; migrates the database first (safe on every start).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const appPort = process.env.PORT ?? '3000';
const opPort = process.env.DEV_IDP_PORT ?? '4000';
const appUrl = `http://localhost:${appPort}`;
const opUrl = `http://localhost:${opPort}`;

const env = {
  PORT: appPort,
  OIDC_ISSUER: opUrl,
  OIDC_CLIENT_ID: 'demo-app',
  OIDC_CLIENT_SECRET: 'demo-app-secret-change-me',
  OIDC_REDIRECT_URI: `${appUrl}/auth/oidc/callback`,
  OIDC_ALLOW_INSECURE_HTTP: 'true',
  OIDC_TOKEN_ENCRYPTION_KEYS: `dev:${randomBytes(32).toString('base64')}`,
  OIDC_POST_LOGOUT_REDIRECT_URI: `${appUrl}/`,
  OIDC_BIND_PAGE_URL: `${appUrl}/bind`,
  ...process.env,
};

await ensureDatabase(env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/oidc_rp');
const migrate = spawnSync(process.execPath, ['node_modules/typeorm/cli.js', 'migration:run', '-d', 'dist/data-source.js'], { env, stdio: 'inherit' });
if (migrate.status !== 0) {
  console.error('migration failed: is Postgres running and does the database exist? (createdb -U postgres -h 127.0.0.1 oidc_rp)');
  process.exit(1);
}

const children = [
  spawn(process.execPath, ['dev-idp/server.mjs'], { env: { ...env, DEV_IDP_PORT: opPort, DEV_IDP_APP_URL: appUrl }, stdio: 'inherit' }),
  spawn(process.execPath, ['dist/main.js'], { env, stdio: 'inherit' }),
];
console.log(`app: ${appUrl}/auth/oidc/login   docs: ${appUrl}/docs   dev OP: ${opUrl} (users in dev-idp/users.json)`);
const stop = () => children.forEach((c) => c.kill('SIGTERM'));
for (const child of children) child.on('exit', (code) => { stop(); process.exitCode = code ?? 0; });
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

/** Creates the database on first run (a fresh machine has none). */
async function ensureDatabase(url) {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.href });
  await client.connect();
  const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (found.rowCount === 0) await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  await client.end();
}
