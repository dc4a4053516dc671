import { createParamDecorator, type ExecutionContext, Injectable, type PipeTransform } from '@nestjs/common';
import type { Request } from 'express';
import { OidcError } from '../errors/oidc-error';
import { OidcTokenService } from '../services/oidc-token.service';
import type { AuthenticatedSession } from '../services/session.service';

/** Resolves the caller's session (set by `SessionGuard`) to a valid access token. */
@Injectable()
export class AccessTokenPipe implements PipeTransform<AuthenticatedSession | undefined, Promise<string>> {
  constructor(private readonly tokens: OidcTokenService) {}

  async transform(current: AuthenticatedSession | undefined): Promise<string> {
    if (!current?.session) throw new OidcError('unauthenticated', 'No valid session: sign in again');
    return this.tokens.getAccessToken(current.session);
  }
}

const CurrentSession = createParamDecorator((_data: unknown, context: ExecutionContext) => context.switchToHttp().getRequest<Request>().user);

/**
 * The signed-in user's access token, refreshed when it is about to expire; use behind `SessionGuard`:
 *
 *     @Get('orders') @UseGuards(SessionGuard)
 *     list(@AccessToken() accessToken: string) { … call the API with it … }
 *
 * Errors: 401 `no_refresh_token` / `refresh_failed` (sign in again), 503 when the OP is unreachable.
 */
export const AccessToken = (): ParameterDecorator => CurrentSession(AccessTokenPipe);
