import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { OIDC_REDIS } from '../oidc.tokens';

/**
 * The module's Redis connection. While Redis is unreachable a command is retried once
 * (`maxRetriesPerRequest: 1`) and then fails, and a command that gets no answer fails after
 * `commandTimeout`, so requests answer 503 instead of hanging.
 */
export const redisProvider = {
  provide: OIDC_REDIS,
  inject: [OIDC_MODULE_OPTIONS],
  useFactory: (options: OidcModuleOptions): Redis => {
    const logger = new Logger('Redis');
    const client = new Redis(options.redisUrl, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
      connectTimeout: 5_000,
      commandTimeout: options.redisCommandTimeoutMs,
      lazyConnect: false,
    });
    client.on('error', (err: Error & { code?: string }) => logger.warn({ msg: 'redis.error', code: err.code, name: err.name }));
    return client;
  },
};

@Injectable()
export class RedisShutdown implements OnApplicationShutdown {
  constructor(@Inject(OIDC_REDIS) private readonly redis: Redis) {}

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
