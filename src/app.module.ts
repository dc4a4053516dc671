import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { TypeOrmModule } from '@nestjs/typeorm';
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

/** The host app: typed config, the Postgres connection, `OidcModule`, and `/health`. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
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
