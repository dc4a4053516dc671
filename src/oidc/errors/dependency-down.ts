const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE']);

/**
 * Postgres or the state store unreachable or too slow: connection refused or dropped, pool timeout,
 * Postgres connection-class errors, a statement cancelled by statement_timeout (57014), a query or
 * Redis command that got no answer in time.
 */
export function isDependencyDown(exception: unknown): boolean {
  const e = exception as { name?: string; code?: string; message?: string; driverError?: { code?: string } };
  if (!e || typeof e !== 'object') return false;
  const code = e.driverError?.code ?? e.code ?? '';
  if (NETWORK_CODES.has(code) || code.startsWith('08') || code === '57P01' || code === '57014') return true;
  if (e.name === 'MaxRetriesPerRequestError') return true;
  return /Connection terminated|timeout exceeded when trying to connect|Connection is closed|Query read timeout|Command timed out/i.test(e.message ?? '');
}
