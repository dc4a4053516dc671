import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { ConfigError, loadAppConfig } from './config/app-config';

async function bootstrap(): Promise<void> {
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
  const app = await createApp(config);
  await app.listen(config.port);
  new Logger('Bootstrap').log({ msg: 'app.listening', port: config.port });
}

bootstrap().catch((error: Error) => {
  process.stderr.write(`Startup failed: ${error.name}: ${error.message}\n`);
  process.exit(1);
});
