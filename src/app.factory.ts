import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger, PinoLogger } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AppModule } from './app.module';
import type { AppConfig } from './config/app-config';
import { createRootLogger, type LogLevel } from './logging/logger';

export interface LogOptions {
  /** Where the JSON lines go (default: stdout, non-blocking); tests capture them here. */
  destination?: DestinationStream;
  /** Lowest level written (default `log`). */
  level?: LogLevel;
}

/** Builds the app exactly as production runs it (used by main.ts and by the e2e tests). */
export async function createApp(config: AppConfig, log: LogOptions = {}): Promise<NestExpressApplication> {
  // No app-wide body parser: OidcModule parses (and bounds) the bodies of its own routes, and this
  // demo host has no other route with a body. Nest's logger is nestjs-pino's on one root pino logger,
  // from the start: what Nest logs while it builds the app (a database that does not answer yet) is
  // written as it happens, not buffered until the app is up.
  const root = createRootLogger(log.destination, log.level);
  const logger = new Logger(new PinoLogger({ pinoHttp: { logger: root } }), {});
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, root), { logger, bodyParser: false, abortOnError: false });
  app.set('trust proxy', config.trustProxy);
  // process.exit() after the shutdown hooks (not a re-raised signal): the 'exit' event is what makes
  // pino write the lines still buffered (the shutdown's own among them).
  app.enableShutdownHooks([], { useProcessExit: true });
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('OIDC Relying Party')
      .setDescription('Login, account binding, RP-initiated and back-channel logout, sessions.')
      .setVersion('0.1.0')
      .addCookieAuth(config.oidc.sessionCookieName, { type: 'apiKey', in: 'cookie', name: config.oidc.sessionCookieName }, 'session')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'The opaque session token' }, 'session')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
  return app;
}
