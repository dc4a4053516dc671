const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE']);

type ErrorLike = { name?: string; code?: string; message?: string; driverError?: { code?: string } };

/**
 * Postgres or the state store unreachable or too slow: out of reach (below), a statement cancelled by
 * statement_timeout (57014), a query or Redis command that got no answer in time.
 */
export function isDependencyDown(exception: unknown): boolean {
  if (isUnreachable(exception)) return true;
  const e = exception as ErrorLike;
  if ((e.driverError?.code ?? e.code) === '57014') return true;
  return /Query read timeout|Command timed out/i.test(e.message ?? '');
}

/**
 * Postgres or the state store out of reach, whatever was asked of it: connection refused or dropped,
 * pool timeout, Postgres connection-class errors, an administrator's shutdown, Redis retries exhausted.
 */
export function isUnreachable(exception: unknown): boolean {
  const e = exception as ErrorLike;
  if (!e || typeof e !== 'object') return false;
  const code = e.driverError?.code ?? e.code ?? '';
  if (NETWORK_CODES.has(code) || code.startsWith('08') || code === '57P01') return true;
  if (e.name === 'MaxRetriesPerRequestError') return true;
  return /Connection terminated|timeout exceeded when trying to connect|Connection is closed/i.test(e.message ?? '');
}
