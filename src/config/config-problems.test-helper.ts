import { ConfigError, type Env, loadAppConfig } from './app-config';

/** The problems `loadAppConfig` reports for this environment (none: `[]`). For the config specs. */
export function problems(env: Env): string[] {
  try {
    loadAppConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}
