// Helpers shared by the bench scripts.
import { spawn } from 'node:child_process';
import pg from 'pg';

/** Polls `url` until `ok(status)` holds (about `tries` × 100 ms). */
export async function waitFor(url, ok, tries = 300) {
  for (let i = 0; i < tries; i++) {
    try {
      if (ok((await fetch(url)).status)) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not up: ${url}`);
}

/** Drops and recreates database `db` through `adminUrl`, then runs the built migrations against `dbUrl`. */
export async function freshDatabase(adminUrl, db, dbUrl) {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const migrate = spawn(process.execPath, ['node_modules/typeorm/cli.js', 'migration:run', '-d', 'dist/data-source.js'], {
    env: { ...process.env, DATABASE_URL: dbUrl },
    stdio: 'ignore',
  });
  await new Promise((resolve, reject) => migrate.on('exit', (code) => (code === 0 ? resolve() : reject(new Error('migration failed')))));
}
