import { QueryFailedError } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { OidcError } from './oidc-error';
import { toErrorBody } from './oidc-exception.filter';

const unavailable = { error: 'service_unavailable', message: 'A backing service is unavailable; retry later' };

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('toErrorBody: a state-store or database outage is a 503 without internals', () => {
  it.each<[string, unknown]>([
    ['Redis command timeout (commandTimeout)', new Error('Command timed out')],
    ['Redis retries exhausted', Object.assign(new Error('Reached the max retries per request limit'), { name: 'MaxRetriesPerRequestError' })],
    ['Redis connection closed', new Error('Connection is closed.')],
    ['Postgres refused', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['Postgres pool timeout', new Error('timeout exceeded when trying to connect')],
    ['Postgres connection dropped mid-query', new QueryFailedError('SELECT 1', [], new Error('Connection terminated unexpectedly'))],
    ['Postgres statement_timeout', new QueryFailedError('SELECT 1', [], withCode('canceling statement due to statement timeout', '57014'))],
    ['Postgres client read timeout', new Error('Query read timeout')],
    ['Postgres admin shutdown', new QueryFailedError('SELECT 1', [], withCode('terminating connection due to administrator command', '57P01'))],
  ])('%s → 503', (_case, error) => {
    expect(toErrorBody(error)).toEqual({ status: 503, body: unavailable });
  });

  it('any other error stays a 500, a domain error keeps its own status', () => {
    expect(toErrorBody(new Error('boom')).status).toBe(500);
    expect(toErrorBody(new QueryFailedError('SELECT', [], withCode('syntax error', '42601'))).status).toBe(500);
    expect(toErrorBody(new OidcError('logout_token_replayed', 'replayed')).status).toBe(400);
  });
});
