import { RateLimitGuard } from '../guards/rate-limit.guard';
import { Controller, Get, Query, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import { ApiFoundResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiErrorResponse } from '../dto/api-error-response.decorator';
import { OidcError } from '../errors/oidc-error';
import { BrowserErrorFilter } from '../errors/oidc-exception.filter';
import { LoginService } from '../services/login.service';
import { SessionCookieService } from '../services/session-cookie.service';
import { SessionService } from '../services/session.service';

@ApiTags('login')
@Controller('auth/oidc')
@UseFilters(BrowserErrorFilter)
@UseGuards(RateLimitGuard)
export class LoginController {
  constructor(
    private readonly login: LoginService,
    private readonly cookies: SessionCookieService,
    private readonly sessions: SessionService,
  ) {}

  @Get('login')
  @ApiOperation({
    summary: 'Start a login at the OpenID Provider',
    description:
      'Creates state, nonce and a PKCE S256 verifier, binds them to this browser with a short-lived HttpOnly cookie ' +
      '(`oidc_tx_<id>`, one per login in flight) and redirects to the OP. Errors redirect to OIDC_LOGIN_ERROR_URL?error=<code> when it is set.',
  })
  @ApiQuery({ name: 'return_to', required: false, description: 'Relative path, or absolute URL on OIDC_RETURN_TO_ALLOWED_HOSTS' })
  @ApiFoundResponse({ description: 'Redirect to the OP authorization endpoint' })
  @ApiErrorResponse(400, ['invalid_return_to'])
  @ApiErrorResponse(429, ['too_many_requests'], 'rate limit (OIDC_RATE_LIMIT) reached; see Retry-After')
  @ApiErrorResponse(503, ['provider_unavailable', 'service_unavailable'], 'the OP is unreachable or too slow; Postgres or the state store is unreachable')
  async start(@Query('return_to') returnTo: string | string[] | undefined, @Res() res: Response): Promise<void> {
    if (Array.isArray(returnTo)) throw new OidcError('invalid_return_to', 'return_to must be given at most once');
    const { redirectUrl, state, browserBinding } = await this.login.start(returnTo);
    this.cookies.setLoginTransaction(res, state, browserBinding);
    res.redirect(302, redirectUrl);
  }

  @Get('callback')
  @ApiOperation({
    summary: 'Authorization response from the OpenID Provider',
    description:
      'Checks the browser binding, consumes the state once, handles `error=`, checks `iss` when present, exchanges the code ' +
      '(PKCE) and validates the ID token (nonce). Linked identity → session cookie and 302 to return_to; unlinked → the ' +
      'OIDC_UNLINKED_IDENTITY policy (bind page with a one-time token tied to this browser by an `oidc_bind_<id>` cookie, ' +
      'create, or reject). A live session this browser still presents is revoked (`replaced`).',
  })
  @ApiFoundResponse({ description: 'Redirect to return_to (session cookie set) or to the bind page' })
  @ApiErrorResponse(400, ['login_session_missing', 'invalid_state', 'provider_error', 'code_exchange_failed'])
  @ApiErrorResponse(403, ['access_denied', 'identity_not_linked'], 'the user cancelled or refused at the OP; policy reject')
  @ApiErrorResponse(409, ['email_in_use'], 'policy create, email taken by a local account')
  @ApiErrorResponse(429, ['too_many_attempts', 'too_many_requests'], 'too many bind tokens for this identity; or the rate limit (OIDC_RATE_LIMIT), see Retry-After')
  @ApiErrorResponse(401, ['op_session_ended'], 'a back-channel logout ended this OP session while the login was in flight')
  @ApiErrorResponse(503, ['provider_unavailable', 'service_unavailable'], 'the OP is unreachable or too slow; Postgres or the state store is unreachable')
  async callback(@Req() req: Request, @Res() res: Response): Promise<void> {
    const rawQuery = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
    const outcome = await this.login.callback(new URLSearchParams(rawQuery), rawQuery, this.cookies.loginTransaction(req), req.get('user-agent'));
    this.cookies.clearLoginTransaction(req, res);
    if (outcome.kind === 'bind') {
      this.cookies.setBindBinding(res, outcome.bind.token, outcome.bind.browserBinding);
      res.redirect(302, outcome.bind.redirectUrl);
      return;
    }
    await this.sessions.retireReplaced(this.cookies.sessionToken(req), outcome.issued.session.id);
    this.cookies.setSession(res, outcome.issued.token, outcome.issued.session.expiresAt);
    res.redirect(302, outcome.returnTo);
  }
}
