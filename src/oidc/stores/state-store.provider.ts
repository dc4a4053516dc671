import { type FactoryProvider, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { PostgresStateStore } from './postgres/postgres-state.store';
import { RedisStateStore } from './redis/redis-state.store';
import { StateStore } from './state-store';

/** The `StateStore` of this deployment: the adapter named by `OidcModuleOptions.stateStore`. */
export const stateStoreProvider: FactoryProvider<StateStore> = {
  provide: StateStore,
  inject: [OIDC_MODULE_OPTIONS, DataSource],
  useFactory: (options: OidcModuleOptions, dataSource: DataSource): StateStore => {
    new Logger('OidcModule').log({ msg: 'state_store.selected', kind: options.stateStore });
    switch (options.stateStore) {
      case 'redis':
        if (!options.redis) throw new Error('OidcModuleOptions.redis is required when stateStore is "redis"');
        return RedisStateStore.connect(options.redis, options.redisCommandTimeoutMs);
      case 'postgres':
        return new PostgresStateStore(dataSource);
      default:
        throw new Error(`OidcModuleOptions.stateStore must be "redis" or "postgres", got "${String(options.stateStore)}"`);
    }
  },
};
