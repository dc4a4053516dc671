import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

const SECRET_KEY = /token|code|cookie|password|secret|authorization|hint|endsession|verifier|nonce|state|key/i;
const SAFE_KEYS = new Set(['statusCode', 'tokenKind', 'keyId', 'errorCode']);
const JWT = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const QUERY_SECRET = /([?&](?:code|state|id_token_hint|token|logout_token|session_state|refresh_token|access_token)=)[^&\s"]+/gi;
const BEARER = /(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi;
/** A string none of the three patterns can match (no `eyJ`, no query separator, no `bearer`) is kept as is. */
const MAY_HOLD_SECRET = /eyJ|[?&]|bearer/i;

/**
 * Scrubs values that must never reach a log line, at any depth: secret-named fields, JWTs, codes in
 * URLs, bearer tokens. pino's own `redact` (below) censors fixed paths; this catches what a path list
 * cannot (a JWT inside a message, a `code=` in a URL, a `refreshToken` three levels down).
 */
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
    // Copied only once something in it changes: most log objects (ids, tags, outcomes) pass as they are.
    let out: Record<string, unknown> | undefined;
    for (const key in value) {
      if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
      const v = (value as Record<string, unknown>)[key];
      const scrubbed = isSecretKey(key) && v !== undefined && v !== null ? '[redacted]' : redact(v, depth + 1);
      if (scrubbed !== v && out === undefined) {
        out = {};
        for (const earlier in value) {
          if (earlier === key) break;
          if (Object.prototype.hasOwnProperty.call(value, earlier)) out[earlier] = (value as Record<string, unknown>)[earlier];
        }
      }
      if (out !== undefined) out[key] = scrubbed;
    }
    return out ?? value;
  }
  return value;
}

/** Whether a field name marks a secret; the verdicts of the (few, code-defined) field names are kept. */
const secretKeys = new Map<string, boolean>();
function isSecretKey(key: string): boolean {
  let secret = secretKeys.get(key);
  if (secret === undefined) {
    secret = SECRET_KEY.test(key) && !SAFE_KEYS.has(key);
    if (secretKeys.size < 1000) secretKeys.set(key, secret);
  }
  return secret;
}

/**
 * pino's path-based redaction: request headers and the secret fields the module's code could name.
 * (`redact()` above covers the same names at any depth and inside strings.)
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'cookie',
  'password',
  'token',
  'code',
  'idToken',
  'accessToken',
  'refreshToken',
  'logout_token',
  'id_token_hint',
  'endSessionUrl',
];

/** Nest's level names in the `level` field, as the audit trail and the log shippers expect (`log`, not `info`). */
const NEST_LEVEL: Record<string, string> = { trace: 'verbose', info: 'log' };

/** Nest's level names as pino's (nestjs-pino calls `trace` for `verbose` and `info` for `log`). */
export type LogLevel = 'verbose' | 'debug' | 'log' | 'warn' | 'error' | 'fatal';
const PINO_LEVEL: Record<LogLevel, string> = { verbose: 'trace', debug: 'debug', log: 'info', warn: 'warn', error: 'error', fatal: 'fatal' };

export function loggerOptions(level: LogLevel = 'log'): LoggerOptions {
  return {
    level: PINO_LEVEL[level],
    // One JSON object a line: time, level, context and the fields of the call, nothing of the host.
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: 'msg',
    formatters: { level: (label) => ({ level: NEST_LEVEL[label] ?? label }) },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    hooks: {
      // Every object and string of a call is scrubbed before pino serializes it.
      logMethod(args, method) {
        for (let i = 0; i < args.length; i++) args[i] = redact(args[i]) as never;
        return method.apply(this, args);
      },
    },
  };
}

/** Lines wait in memory until this much is buffered, or `STDOUT_FLUSH_MS` has passed. */
const STDOUT_MIN_WRITE = 8192;
const STDOUT_FLUSH_MS = 100;

/**
 * stdout without blocking: pino's asynchronous destination (sonic-boom) writes off the main thread,
 * and only once 8 KiB of lines are buffered or 100 ms have passed. A busy route logs several lines a
 * request; one write per line, or even per turn of the event loop, costs a thread-pool round trip each
 * (measured: 9 % of a back-channel logout's CPU on one core), a write per 8 KiB a small fraction of it.
 * At exit (also after SIGTERM/SIGINT: the app's shutdown hooks end with `process.exit`) pino writes
 * what is pending synchronously; a process killed outright (SIGKILL) loses at most the last 100 ms of lines.
 *
 * Lines are handed over as bytes (sonic-boom's buffer mode): in its string mode, sonic-boom appends each
 * line to the pending string and measures that string's UTF-8 length on every write, which makes V8
 * copy the whole pending buffer once per line — quadratic in the lines of a write (≈ 4 KB copied per
 * line at 8 KiB; a seventh of a back-channel logout's allocations). In buffer mode it keeps a list and
 * joins it once per write (`node` one-run comparison: 3.6–4.0 against 0.6–1.1 µs of CPU a line).
 */
export function bufferedStdout(fd = 1): DestinationStream {
  const stdout = pino.destination({ dest: fd, sync: false, minLength: STDOUT_MIN_WRITE, periodicFlush: STDOUT_FLUSH_MS, contentMode: 'buffer' });
  return {
    write: (line: string) => stdout.write(Buffer.from(line) as unknown as string),
    // What pino's `logger.flush()` calls; the exit flush is registered by `pino.destination` itself.
    flush: (callback?: (error?: Error) => void) => stdout.flush(callback),
    /** Writes what is pending, closes the file descriptor, then calls back (tests; the app never ends stdout). */
    end: (callback?: () => void) => {
      if (callback) stdout.once('close', callback);
      stdout.end();
    },
  } as DestinationStream;
}

/** The process's root logger: stdout (above) unless a test passes a destination to capture the lines. */
export function createRootLogger(destination: DestinationStream = bufferedStdout(), level: LogLevel = 'log'): Logger {
  return pino(loggerOptions(level), destination);
}
