import { createParamDecorator, type ExecutionContext, Injectable, type PipeTransform } from '@nestjs/common';
import type { Request } from 'express';
import { OidcError } from '../errors/oidc-error';
import { callerOf, type RequestContext } from '../observability/request-context';
import { OidcTokenService } from '../services/oidc-token.service';
import type { AuthenticatedSession } from '../services/session.service';

/** What `@AccessToken()` hands its pipe: the request's session (set by `SessionGuard`) and its caller, for the audit line of a refresh. */
interface SessionOfRequest {
  readonly current: AuthenticatedSession | undefined;
  readonly caller: RequestContext;
}

/** Resolves the caller's session (set by `SessionGuard`) to a valid access token. */
@Injectable()
export class AccessTokenPipe implements PipeTransform<SessionOfRequest | AuthenticatedSession | undefined, Promise<string>> {
  constructor(private readonly tokens: OidcTokenService) {}

  async transform(value: SessionOfRequest | AuthenticatedSession | undefined): Promise<string> {
    const { current, caller } = value && 'caller' in value ? value : { current: value, caller: undefined };
    if (!current?.session) throw new OidcError('unauthenticated', 'No valid session: sign in again');
    return this.tokens.getAccessToken(current.session, caller);
  }
}

const CurrentSession = createParamDecorator((_data: unknown, context: ExecutionContext): SessionOfRequest => {
  const req = context.switchToHttp().getRequest<Request>();
  return { current: req.user as AuthenticatedSession | undefined, caller: callerOf(req) };
});

/**
 * The signed-in user's access token, refreshed when it is about to expire; use behind `SessionGuard`:
 *
 *     @Get('orders') @UseGuards(SessionGuard)
 *     list(@AccessToken() accessToken: string) { … call the API with it … }
 *
 * Errors: 401 `no_refresh_token` / `refresh_failed` (sign in again), 503 when the OP is unreachable.
 */
export const AccessToken = (): ParameterDecorator => CurrentSession(AccessTokenPipe);
