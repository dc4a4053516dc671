export const LOG_FILE: string;

export interface EmbeddedPostgres {
  /** Admin URL: `postgres://postgres@127.0.0.1:<port>/postgres` (trust auth). */
  url: string;
  port: number;
  dataDir: string;
  logFile: string;
  /** Fast shutdown; resolves when the server has exited. Safe to call twice. */
  stop(): Promise<void>;
}

export function startEmbeddedPostgres(options: { dataDir: string; port?: number; fallbackToFreePort?: boolean; startTimeoutMs?: number }): Promise<EmbeddedPostgres>;

export function tcpAnswers(host: string, port: number, timeoutMs?: number): Promise<boolean>;

export function ensureDatabase(adminUrl: string, name: string): Promise<void>;
