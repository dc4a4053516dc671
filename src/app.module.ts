import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';
import { LoggerModule } from 'nestjs-pino';
import type { Logger as PinoRoot } from 'pino';
import type { AppConfig } from './config/app-config';
import { dataSourceOptions } from './database.options';
import { DemoApiController } from './demo/demo-api.controller';
import { DemoPagesController } from './demo/demo-pages.controller';
import { DemoPingController } from './demo/demo-ping.controller';
import { HealthController } from './health/health.controller';
import { MetricsController } from './metrics/metrics.controller';
import { MetricsServer } from './metrics/metrics';
import { TerminusModule } from '@nestjs/terminus';
import { OidcModule } from './oidc';

/** The host app: typed config, logging (pino), the Postgres connection, `OidcModule`, and `/health`. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig, logger: PinoRoot): DynamicModule {
    return {
      module: AppModule,
      imports: [
        // Nest's logger on `logger`. No per-request middleware (`forRoutes: []`): no pino-http request
        // line for every request of the host, and no request-scoped child logger. Each module route logs
        // its own outcome.
        LoggerModule.forRoot({ pinoHttp: { logger }, forRoutes: [] }),
        ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, ignoreEnvVars: true, load: [() => config] }),
        TypeOrmModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (c: ConfigService) => dataSourceOptions(c.getOrThrow<string>('databaseUrl'), [], c.getOrThrow('database')),
        }),
        TerminusModule.forRoot({ logger: false }),
        OidcModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (c: ConfigService) => c.getOrThrow('oidc'),
        }),
      ],
      controllers: [
        HealthController,
        DemoPagesController,
        DemoApiController,
        DemoPingController,
        // /metrics on the app's port unless disabled or moved to METRICS_PORT (see app.factory.ts).
        ...(config.metrics.enabled && config.metrics.port === undefined ? [MetricsController] : []),
      ],
      providers: [MetricsServer],
    };
  }
}
