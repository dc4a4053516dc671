import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import { ConfigError, loadDatabaseUrl } from '../config/app-config';
import { dataSourceOptions } from '../database.options';
import { createLocalUser, LocalUserError } from './local-user';

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
  const password = values['password-stdin'] ? await readStdin() : values.password;
  const db = new DataSource(dataSourceOptions(loadDatabaseUrl(), []));
  await db.initialize();
  try {
    const user = await createLocalUser(db, { email: values.email, name: values.name, password });
    process.stdout.write(`${JSON.stringify({ id: user.id, email: user.email, displayName: user.displayName })}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof LocalUserError)) throw error;
    process.stderr.write(`${error.message}\n\n${USAGE}\n`);
    return 2;
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
