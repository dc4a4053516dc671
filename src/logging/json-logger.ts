import type { LoggerService, LogLevel } from '@nestjs/common';

const SECRET_KEY = /token|code|cookie|password|secret|authorization|hint|endsession|verifier|nonce|state|key/i;
const SAFE_KEYS = new Set(['statusCode', 'tokenKind', 'keyId', 'errorCode']);
const JWT = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const QUERY_SECRET = /([?&](?:code|state|id_token_hint|token|logout_token|session_state|refresh_token|access_token)=)[^&\s"]+/gi;
const BEARER = /(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi;
/** A string none of the three patterns can match (no `eyJ`, no query separator, no `bearer`) is kept as is. */
const MAY_HOLD_SECRET = /eyJ|[?&]|bearer/i;

/** Scrubs values that must never reach a log line: secret-named fields, JWTs, codes in URLs, bearer tokens. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    if (!MAY_HOLD_SECRET.test(value)) return value;
    return value.replace(JWT, '[redacted-jwt]').replace(QUERY_SECRET, '$1[redacted]').replace(BEARER, '$1[redacted]');
  }
  if (value instanceof Error) {
    return { name: value.name, message: redact(value.message, depth + 1) };
  }
  if (Array.isArray(value)) return depth > 4 ? '[…]' : value.map((v) => redact(v, depth + 1));
  if (value && typeof value === 'object') {
    if (depth > 4) return '[…]';
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      out[key] = SECRET_KEY.test(key) && !SAFE_KEYS.has(key) && v !== undefined && v !== null ? '[redacted]' : redact(v, depth + 1);
    }
    return out;
  }
  return value;
}

export type LogSink = (line: string) => void;

/**
 * The default sink: stdout, one write per turn of the event loop. Writes to a pipe or a file are
 * synchronous in Node, and a busy request path logs several lines (an audit line, an outcome line),
 * so the lines of one turn go out together in one write, queued with `setImmediate` (after the I/O of
 * that turn). Whatever is pending when the process exits is written then, synchronously.
 */
export function bufferedStdout(): LogSink {
  let pending: string[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    const chunk = pending.join('');
    pending = [];
    process.stdout.write(chunk);
  };
  process.once('exit', flush);
  return (line) => {
    if (pending.push(`${line}\n`) === 1) setImmediate(flush);
  };
}

const ORDER: LogLevel[] = ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'];

/**
 * One JSON object a line, redacted. Nest's `Logger` calls land here once installed with
 * `app.useLogger(...)`; tests pass a sink to capture every line.
 */
export class JsonLogger implements LoggerService {
  constructor(
    private readonly sink: LogSink = bufferedStdout(),
    private readonly minLevel: LogLevel = 'log',
  ) {}

  log(message: unknown, ...rest: unknown[]): void {
    this.write('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('verbose', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  private write(level: LogLevel, message: unknown, rest: unknown[]): void {
    if (ORDER.indexOf(level) < ORDER.indexOf(this.minLevel)) return;
    // Nest passes the context last; an error's stack (a string) may come before it.
    const context = typeof rest[rest.length - 1] === 'string' ? (rest[rest.length - 1] as string) : undefined;
    const fields = message && typeof message === 'object' && !(message instanceof Error) ? (message as Record<string, unknown>) : { msg: message };
    const line = { time: new Date().toISOString(), level, context, ...(redact(fields) as Record<string, unknown>) };
    this.sink(JSON.stringify(line));
  }
}
