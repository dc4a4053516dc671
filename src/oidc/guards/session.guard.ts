import { type ExecutionContext, Injectable } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import type { Response } from 'express';
import { OidcError } from '../errors/oidc-error';
import { isDependencyDown } from '../errors/oidc-exception.filter';
import { SESSION_STRATEGY } from './session.strategy';

/**
 * Requires a live session (cookie or Bearer). Sets `req.user` to the `AuthenticatedSession`. Usable on
 * the host's own routes too: its errors are HttpExceptions (401, or 503 when Postgres or the state
 * store is unreachable), and an authenticated response is marked `Cache-Control: no-store`, since it
 * carries the user's data.
 */
@Injectable()
export class SessionGuard extends AuthGuard(SESSION_STRATEGY) {
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const res = context.switchToHttp().getResponse<Response>();
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Pragma', 'no-cache');
    return (await super.canActivate(context)) as boolean;
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
