import { type ExecutionContext, HttpException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { describe, expect, it } from 'vitest';
import { OidcError } from '../errors/oidc-error';
import { type AuthenticationRequirements, RequireAuthentication } from './require-authentication.decorator';
import { SessionGuard } from './session.guard';
import type { SessionStrategy } from './session.strategy';
import type { IdpClientService } from '../services/idp-client.service';

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

describe('SessionGuard with @RequireAuthentication', () => {
  const authenticated = (acr: string | null, authTime: Date | null) =>
    ({ session: { id: 's1', issuer: 'https://op.example.com', acr, authTime }, user: { id: 'u1' } }) as never;

  /** Runs the guard on a handler decorated with `requirements`, for a session with this acr and auth_time. */
  const idp = {
    clockToleranceSec: 5,
    forIssuer: (issuer: string) => (issuer === 'https://op.example.com' ? { id: 'corp' } : undefined),
    find: (id: string) => ({ options: { id, redirectUri: `https://app.example.com/auth/oidc/callback/${id}` } }),
  } as unknown as IdpClientService;

  async function run(requirements: AuthenticationRequirements, acr: string | null, authTime: Date | null, onClass?: AuthenticationRequirements, before: Record<string, string> = {}) {
    @RequireAuthentication(onClass ?? {})
    class Host {
      @RequireAuthentication(requirements)
      handler(): void {}
    }
    const headers: Record<string, string> = { ...before };
    const set: string[] = [];
    const req = { headers: {} } as never;
    const res = {
      setHeader: (name: string, value: string) => set.push(name) && (headers[name.toLowerCase()] = value),
      getHeader: (name: string) => headers[name],
    };
    const context = {
      switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }),
      getHandler: () => Host.prototype.handler,
      getClass: () => Host,
    } as unknown as ExecutionContext;
    const strategy = { validate: async () => authenticated(acr, authTime) } as unknown as SessionStrategy;
    const guard = new SessionGuard(strategy, new Reflector(), idp);
    try {
      return { allowed: await guard.canActivate(context), headers, set };
    } catch (error) {
      return { error: error as OidcError, headers, set };
    }
  }

  it('an authenticated answer is no-store: a cacheable Cache-Control the host set is replaced; headers already no-store are left as they are', async () => {
    const fresh = await run({}, null, null);
    expect(fresh).toMatchObject({ allowed: true, headers: { 'cache-control': 'no-store', pragma: 'no-cache' } });
    const hostCacheable = await run({}, null, null, undefined, { 'cache-control': 'public, max-age=600' });
    expect(hostCacheable.headers).toMatchObject({ 'cache-control': 'no-store', pragma: 'no-cache' });
    const noPragma = await run({}, null, null, undefined, { 'cache-control': 'no-store' });
    expect(noPragma.headers).toMatchObject({ 'cache-control': 'no-store', pragma: 'no-cache' });
    const moduleRoute = await run({}, null, null, undefined, { 'cache-control': 'no-store', pragma: 'no-cache' });
    expect(moduleRoute).toMatchObject({ allowed: true, set: [] });
  });

  it('a session that meets acr and max age passes', async () => {
    expect(await run({ requireAcr: ['mfa'], maxAge: 60 }, 'mfa', new Date(Date.now() - 30_000))).toMatchObject({ allowed: true });
  });

  it('a wrong or missing acr, an old or unknown auth_time: 401 step_up_required with the challenge', async () => {
    for (const [acr, authTime] of [
      ['pwd', new Date()],
      [null, new Date()],
      ['mfa', new Date(Date.now() - 70_000)],
      ['mfa', null],
    ] as const) {
      const outcome = await run({ requireAcr: ['mfa', 'hwk'], maxAge: 60 }, acr, authTime);
      expect(outcome.error?.getStatus()).toBe(401);
      expect(outcome.error?.code).toBe('step_up_required');
      expect(outcome.headers['www-authenticate']).toBe('Bearer error="insufficient_user_authentication", acr_values="mfa hwk", max_age=60');
    }
  });

  it('a class requirement still applies under a method one (both must hold), and max age allows the clock tolerance', async () => {
    expect(await run({ maxAge: 300 }, 'pwd', new Date(), { requireAcr: ['mfa'] })).toMatchObject({ error: { code: 'step_up_required' } });
    expect(await run({ maxAge: 300 }, 'mfa', new Date(), { requireAcr: ['mfa'] })).toMatchObject({ allowed: true });
    expect(await run({ maxAge: 0 }, null, new Date(Date.now() - 3_000))).toMatchObject({ allowed: true });
    expect(await run({ maxAge: 0 }, null, new Date(Date.now() - 7_000))).toMatchObject({ error: { code: 'step_up_required' } });
  });

  it('providers: an acr of another provider does not count; the login URL goes to the named provider', async () => {
    const outcome = await run({ requireAcr: ['mfa'], providers: ['partner'] }, 'mfa', new Date());
    expect(outcome.error?.code).toBe('step_up_required');
    const loginUrl = new URL((outcome.error?.getResponse() as { stepUp: { loginUrl: string } }).stepUp.loginUrl);
    expect(loginUrl.pathname).toBe('/auth/oidc/login');
    expect(loginUrl.searchParams.get('provider')).toBe('partner');
    expect(await run({ requireAcr: ['mfa'], providers: ['corp'] }, 'mfa', new Date())).toMatchObject({ allowed: true });
  });

  it('refuses malformed requirements when the route is declared', () => {
    expect(() => RequireAuthentication({ requireAcr: [] })).toThrow(/requireAcr/);
    expect(() => RequireAuthentication({ requireAcr: ['a b'] })).toThrow(/requireAcr/);
    expect(() => RequireAuthentication({ maxAge: -1 })).toThrow(/maxAge/);
  });
});
