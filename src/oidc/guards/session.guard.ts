import { type ExecutionContext, Injectable, Optional } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import type { Request, Response } from 'express';
import passport from 'passport';
import { OidcError } from '../errors/oidc-error';
import { isDependencyDown } from '../errors/oidc-exception.filter';
import { SESSION_STRATEGY, SessionStrategy } from './session.strategy';

/** Passport's registry of strategies (where `PassportStrategy` registered `SessionStrategy`). */
const registered = (): SessionStrategy | undefined =>
  (passport as unknown as { _strategy(name: string): SessionStrategy | undefined })._strategy(SESSION_STRATEGY);

/**
 * Requires a live session (cookie or Bearer). Sets `req.user` to the `AuthenticatedSession`. Usable on
 * the host's own routes too: its errors are HttpExceptions (401, or 503 when Postgres or the state
 * store is unreachable), and an authenticated response is marked `Cache-Control: no-store`, since it
 * carries the user's data.
 *
 * The strategy is registered with passport (`@nestjs/passport`) as before, but the guard calls its
 * `validate` directly instead of going through `passport.authenticate` on every request: that builds
 * a middleware, a strategy clone and several closures per request for a strategy that has no
 * redirects, no challenges and no login session. The outcome is the same: `handleRequest(error, user
 * or false)` decides, and `req.user` is set to what it returns.
 */
@Injectable()
export class SessionGuard extends AuthGuard(SESSION_STRATEGY) {
  /**
   * This app's own strategy instance. Passport's registry is process-wide: with two Nest apps in one
   * process (tests, workers) it holds the last one registered, whose database may be closed.
   */
  constructor(@Optional() private readonly ownStrategy?: SessionStrategy) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const res = context.switchToHttp().getResponse<Response>();
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Pragma', 'no-cache');
    const strategy = this.ownStrategy ?? registered();
    if (!strategy) return (await super.canActivate(context)) as boolean;
    const req = context.switchToHttp().getRequest<Request>();
    let user: Express.User | false = false;
    let error: unknown;
    try {
      user = (await strategy.validate(req)) ?? false;
    } catch (e) {
      error = e;
    }
    req.user = this.handleRequest(error, user);
    return true;
  }

  override handleRequest<T>(error: unknown, user: T | false): T {
    if (error) {
      if (!(error instanceof OidcError) && isDependencyDown(error)) {
        throw new OidcError('service_unavailable', 'A backing service is unavailable; retry later');
      }
      throw error;
    }
    if (!user) throw new OidcError('unauthenticated', 'No valid session: sign in again');
    return user;
  }
}
