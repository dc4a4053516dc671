import { Injectable } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';
import { OidcError } from '../errors/oidc-error';
import { SESSION_STRATEGY } from './session.strategy';

/** Requires a live session (cookie or Bearer). Sets `req.user` to the `AuthenticatedSession`. */
@Injectable()
export class SessionGuard extends AuthGuard(SESSION_STRATEGY) {
  override handleRequest<T>(error: unknown, user: T | false): T {
    if (error) throw error;
    if (!user) throw new OidcError('unauthenticated', 'No valid session: sign in again');
    return user;
  }
}
