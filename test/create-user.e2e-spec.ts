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
