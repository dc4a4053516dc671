import type { INestApplication, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import cookieParser from 'cookie-parser';
import { json, urlencoded } from 'express';
import { AppModule } from './app.module';
import type { AppConfig } from './config/app-config';

/** Request bodies are small here; anything larger is rejected before it reaches a controller. */
const BODY_LIMIT = '32kb';

/** Builds the app exactly as production runs it (used by main.ts and by the e2e tests). */
export async function createApp(config: AppConfig, logger: LoggerService): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.forRoot(config), { logger, bodyParser: false, abortOnError: false });
  app.use(json({ limit: BODY_LIMIT }), urlencoded({ extended: false, limit: BODY_LIMIT }), cookieParser());
  app.enableShutdownHooks();
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
