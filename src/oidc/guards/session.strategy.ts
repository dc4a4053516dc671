import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { Request } from 'express';
import { Strategy } from 'passport-custom';
import { cookieValue } from '../util/request-cookies';
import { OidcError } from '../errors/oidc-error';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { type AuthenticatedSession, SessionService } from '../services/session.service';
import { callerOf } from '../observability/request-context';

export const SESSION_STRATEGY = 'oidc-session';

/** Reads the session token from the cookie or `Authorization: Bearer`, and resolves it in Postgres. */
@Injectable()
export class SessionStrategy extends PassportStrategy(Strategy, SESSION_STRATEGY) {
  constructor(
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    private readonly sessions: SessionService,
  ) {
    super();
  }

  async validate(req: Request): Promise<AuthenticatedSession> {
    const token = this.tokenFrom(req);
    const found = token ? await this.sessions.authenticate(token, callerOf(req)) : undefined;
    if (!found) throw new OidcError('unauthenticated', 'No valid session: sign in again');
    return found;
  }

  private tokenFrom(req: Request): string | undefined {
    const header = req.headers.authorization;
    if (header) {
      const match = /^Bearer ([A-Za-z0-9_-]+)$/.exec(header);
      return match?.[1];
    }
    // Parsed here on first use (also on the host's own routes, where no cookie parser may have run).
    return cookieValue(req, this.options.sessionCookieName);
  }
}
