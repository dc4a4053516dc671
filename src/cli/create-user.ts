import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import { ConfigError, loadDatabaseUrl } from '../config/app-config';
import { dataSourceOptions } from '../database.options';
import { hashPassword } from '../oidc/crypto/secrets';
import { UserEntity } from '../oidc/entities';

const USAGE = `Creates a local user with a password (the account a bind confirm links to).

  npm run user:create -- --email alice@example.com --name "Alice Example" --password-stdin < password.txt
  npm run user:create -- --email alice@example.com --password 'demo-only'   (visible in shell history)

DATABASE_URL selects the database (default postgres://postgres@127.0.0.1:5432/oidc_rp).`;

async function readStdin(): Promise<string> {
  let data = '';
  for await (const chunk of process.stdin) data += chunk;
  return data.replace(/\r?\n$/, '');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      email: { type: 'string' },
      name: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const email = values.email?.trim().toLowerCase();
  if (!email || !/^[^\s@]+@[^\s@]+$/.test(email)) {
    process.stderr.write(`--email must be an email address\n\n${USAGE}\n`);
    return 2;
  }
  const password = values['password-stdin'] ? await readStdin() : values.password;
  if (!password || password.length < 8) {
    process.stderr.write('the password must have at least 8 characters (--password or --password-stdin)\n');
    return 2;
  }
  const db = new DataSource(dataSourceOptions(loadDatabaseUrl(), []));
  await db.initialize();
  try {
    const repo = db.getRepository(UserEntity);
    if (await repo.exists({ where: { email } })) {
      process.stderr.write(`a user with email ${email} already exists\n`);
      return 1;
    }
    const user = await repo.save(repo.create({ email, displayName: values.name ?? null, passwordHash: await hashPassword(password) }));
    process.stdout.write(`${JSON.stringify({ id: user.id, email: user.email, displayName: user.displayName })}\n`);
    return 0;
  } finally {
    await db.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(error instanceof ConfigError ? `${error.message}\n` : `create-user failed: ${error.name}: ${error.message}\n`);
    process.exit(1);
  },
);
