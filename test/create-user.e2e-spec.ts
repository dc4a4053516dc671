import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { createLocalUser } from '../src/cli/local-user';
import { dataSourceOptions } from '../src/database.options';
import { verifyPassword } from '../src/oidc/crypto/secrets';
import { e2e, withDb } from './support/app';

describe('user:create', () => {
  let db: DataSource;
  beforeAll(async () => {
    db = await new DataSource(dataSourceOptions(e2e().databaseUrl, [])).initialize();
  });
  afterAll(async () => db.destroy());

  it('creates a user whose password verifies, stored only as a scrypt hash', async () => {
    const user = await createLocalUser(db, { email: ' Dana@Corp.Example ', name: 'Dana', password: 'long enough password' });
    expect(user.email).toBe('dana@corp.example');
    const row = await withDb(async (c) => (await c.query('SELECT password_hash FROM users WHERE id = $1', [user.id])).rows[0]);
    expect(row.password_hash).toMatch(/^scrypt\$/);
    expect(row.password_hash).not.toContain('long enough password');
    await expect(verifyPassword('long enough password', row.password_hash)).resolves.toBe(true);
  });

  it.each([
    [{ email: 'not-an-email', password: 'long enough password' }, '--email must be an email address'],
    [{ email: 'e@corp.example', password: 'short' }, 'at least 8 characters'],
    [{ email: 'dana@corp.example', password: 'long enough password' }, 'already exists'],
  ])('refuses %j', async (input, message) => {
    await expect(createLocalUser(db, input)).rejects.toThrow(message);
  });
});

describe('npm run user:create (the built command)', () => {
  function run(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, ['dist/cli/create-user.js', ...args], { env: { ...process.env, DATABASE_URL: e2e().databaseUrl } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d));
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(stdin ?? '');
    });
  }

  it('creates a user from --password-stdin and prints it without the password', async () => {
    const out = await run(['--email', 'frank@corp.example', '--name', 'Frank', '--password-stdin'], 'stdin password 123\n');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ email: 'frank@corp.example', displayName: 'Frank' });
    expect(out.stdout + out.stderr).not.toContain('stdin password 123');
    const row = await withDb(async (c) => (await c.query(`SELECT password_hash FROM users WHERE email = 'frank@corp.example'`)).rows[0]);
    await expect(verifyPassword('stdin password 123', row.password_hash)).resolves.toBe(true);
  });

  it('exits 2 with a clear message on bad input', async () => {
    const out = await run(['--email', 'nope', '--password', 'long enough password']);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('--email must be an email address');
  });
});
