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
): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: OIDC_ENTITIES,
    migrations,
    migrationsTableName: 'migrations',
    synchronize: false,
    logging: false,
    extra: { max: 20, connectionTimeoutMillis: 5_000 },
  };
}
