import 'reflect-metadata';
import { createApp } from './app.factory';
import { ConfigError, loadAppConfig } from './config/app-config';
import { JsonLogger } from './logging/json-logger';

async function bootstrap(): Promise<void> {
  const logger = new JsonLogger();
  let config;
  try {
    config = loadAppConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const app = await createApp(config, logger);
  await app.listen(config.port);
  logger.log({ msg: 'app.listening', port: config.port }, 'Bootstrap');
}

bootstrap().catch((error: Error) => {
  process.stderr.write(`Startup failed: ${error.name}: ${error.message}\n`);
  process.exit(1);
});
