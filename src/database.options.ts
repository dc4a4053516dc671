import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { OIDC_ENTITIES } from './oidc/entities';

/**
 * The one data source definition, shared by the app and the migration CLI (`src/data-source.ts`).
 * `synchronize` is always off: the schema comes from `migrations/` only.
 */
export function dataSourceOptions(
  url: string,
  migrations: DataSourceOptions['migrations'] = [join(__dirname, 'migrations', '[0-9]*.js')],
  timeouts: { statementTimeoutMs?: number; connectTimeoutMs?: number } = {},
): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: OIDC_ENTITIES,
    migrations,
    migrationsTableName: 'migrations',
    synchronize: false,
    logging: false,
    // A slow Postgres fails fast (503) instead of holding requests: the server cancels a statement
    // after statement_timeout; the client stops waiting for an answer shortly after (a server that
    // does not answer at all) and for a connection after connectionTimeoutMillis.
    extra: {
      max: 20,
      connectionTimeoutMillis: timeouts.connectTimeoutMs ?? 5_000,
      ...(timeouts.statementTimeoutMs
        ? { statement_timeout: timeouts.statementTimeoutMs, query_timeout: timeouts.statementTimeoutMs + 500 }
        : {}),
    },
  };
}
