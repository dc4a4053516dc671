import { HttpException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { OidcError } from '../errors/oidc-error';
import { SessionGuard } from './session.guard';

/** What SessionGuard makes of the strategy's outcome, also on a host route (no module filter there). */
describe('SessionGuard.handleRequest', () => {
  const guard = new SessionGuard();
  const status = (run: () => unknown) => {
    try {
      run();
    } catch (error) {
      expect(error).toBeInstanceOf(HttpException);
      return [(error as HttpException).getStatus(), (error as OidcError).code];
    }
    return 'no error';
  };

  it('no session is a 401 HttpException', () => {
    expect(status(() => guard.handleRequest(undefined, false))).toEqual([401, 'unauthenticated']);
  });

  it('Postgres or the state store unreachable is a 503, not a 500', () => {
    expect(status(() => guard.handleRequest(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), false))).toEqual([503, 'service_unavailable']);
    expect(status(() => guard.handleRequest(new Error('Query read timeout'), false))).toEqual([503, 'service_unavailable']);
  });

  it('a domain error passes through, and a user is returned as is', () => {
    expect(status(() => guard.handleRequest(new OidcError('unauthenticated', 'x'), false))).toEqual([401, 'unauthenticated']);
    expect(guard.handleRequest(undefined, { user: 1 })).toEqual({ user: 1 });
  });
});
