import { DataSource } from 'typeorm';
import { loadDatabaseUrl } from './config/app-config';
import { dataSourceOptions } from './database.options';

/** Loaded by the TypeORM CLI: `npm run migration:run` (compiled to dist/data-source.js). */
export default new DataSource(dataSourceOptions(loadDatabaseUrl()));
