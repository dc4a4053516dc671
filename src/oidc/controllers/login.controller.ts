import { RateLimitGuard } from '../guards/rate-limit.guard';
import { SameOriginNavigationGuard } from '../guards/same-origin-navigation.guard';
import { applyDecorators, Controller, Get, Header, Param, Query, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import { ApiCookieAuth, ApiFoundResponse, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiErrorResponse } from '../dto/api-error-response.decorator';
import { OidcError } from '../errors/oidc-error';
import { BrowserErrorFilter } from '../errors/oidc-exception.filter';
import { ProviderListDto } from '../dto/provider.dto';
import { IdpClientService } from '../services/idp-client.service';
import { LoginService } from '../services/login.service';
import { parseLoginParams } from '../util/login-params';
import { SessionCookieService } from '../services/session-cookie.service';
import { SessionService } from '../services/session.service';
import { callerOf } from '../observability/request-context';

/** What both callback routes document. */
const CallbackDocs = () =>
  applyDecorators(
    ApiOperation({
      summary: 'Authorization response from the OpenID Provider',
      description:
        'Checks the browser binding, consumes the state once, handles `error=`, checks `iss` when present, exchanges the code ' +
        '(PKCE) and validates the ID token (nonce). Linked identity → session cookie and 302 to return_to; unlinked → the ' +
        'OIDC_UNLINKED_IDENTITY policy (bind page with a one-time token tied to this browser by an `oidc_bind_<id>` cookie, ' +
        'create, or reject). A live session this browser still presents is revoked (`replaced`). Each provider has its own ' +
        'callback (`callback` alone is provider `default`); the provider is the one the login started with: a response at another ' +
        "provider's callback is refused (400 provider_mismatch) before any code exchange, and an `iss` parameter other than that " +
        "provider's issuer fails (RFC 9207). The callback of a link (`GET /auth/oidc/link`) links the identity to the account of " +
        'the session that started it (which this browser must still present) and redirects to return_to without a new session.',
    }),
    ApiFoundResponse({ description: 'Redirect to return_to (session cookie set; for a link: identity linked, no new session) or to the bind page' }),
    ApiErrorResponse(400, ['login_session_missing', 'invalid_state', 'provider_mismatch', 'unknown_provider', 'provider_error', 'code_exchange_failed']),
    ApiErrorResponse(401, ['op_session_ended', 'unauthenticated'], 'a back-channel logout ended this OP session while the login was in flight; a link whose session this browser no longer presents'),
    ApiErrorResponse(403, ['access_denied', 'identity_not_linked', 'acr_not_satisfied'], 'cancelled or refused at the OP; policy reject; the OP did not reach the acr asked for'),
    ApiErrorResponse(409, ['email_in_use', 'identity_conflict'], 'policy create, email taken by a local account; a link of an identity linked to another account, or of a second identity of one provider'),
    ApiErrorResponse(429, ['too_many_attempts', 'too_many_requests'], 'too many bind tokens for this identity; or the rate limit (OIDC_RATE_LIMIT), see Retry-After'),
    ApiErrorResponse(503, ['provider_unavailable', 'service_unavailable'], 'the OP is unreachable or too slow; Postgres or the state store is unreachable'),
  );

@ApiTags('login')
@Controller('auth/oidc')
@UseFilters(BrowserErrorFilter)
@UseGuards(RateLimitGuard)
export class LoginController {
  constructor(
    private readonly login: LoginService,
    private readonly cookies: SessionCookieService,
    private readonly sessions: SessionService,
    private readonly idp: IdpClientService,
  ) {}

  @Get('providers')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'The OpenID Providers a login page can offer', description: 'Ids, display names and login URLs (relative to this route\'s prefix).' })
  @ApiOkResponse({ type: ProviderListDto })
  providers(): ProviderListDto {
    return {
      providers: this.idp.all().map((p) => ({ id: p.id, displayName: p.options.displayName, loginUrl: `login?provider=${encodeURIComponent(p.id)}` })),
    };
  }

  @Get('login')
  @ApiOperation({
    summary: 'Start a login at the OpenID Provider',
    description:
      'Creates state, nonce and a PKCE S256 verifier, binds them to this browser with a short-lived HttpOnly cookie ' +
      '(`oidc_tx_<id>`, one per login in flight) and redirects to the OP. Errors redirect to OIDC_LOGIN_ERROR_URL?error=<code> when it is set.',
  })
  @ApiQuery({ name: 'provider', required: false, description: 'Provider id (`GET /auth/oidc/providers`); default: provider `default`, or the only one' })
  @ApiQuery({ name: 'return_to', required: false, description: 'Relative path, or absolute URL on OIDC_RETURN_TO_ALLOWED_HOSTS' })
  @ApiQuery({ name: 'prompt', required: false, description: '`none`, `login`, `consent`, `select_account` or `create` (space-separated)' })
  @ApiQuery({ name: 'max_age', required: false, description: 'Seconds since the last authentication at the OP; `0` forces a new one. The ID token\'s auth_time is checked' })
  @ApiQuery({ name: 'acr_values', required: false, description: 'Space-separated; the ID token\'s acr must be one of them, else 403 acr_not_satisfied' })
  @ApiQuery({ name: 'login_hint', required: false, description: 'Passed to the OP (1-256 printable characters)' })
  @ApiQuery({ name: 'ui_locales', required: false, description: 'Space-separated language tags, passed to the OP' })
  @ApiFoundResponse({ description: 'Redirect to the OP authorization endpoint (pushed first with PAR when the OP offers it)' })
  @ApiErrorResponse(400, ['invalid_return_to', 'unknown_provider', 'invalid_login_parameter'])
  @ApiErrorResponse(429, ['too_many_requests'], 'rate limit (OIDC_RATE_LIMIT) reached; see Retry-After')
  @ApiErrorResponse(503, ['provider_unavailable', 'service_unavailable'], 'the OP is unreachable or too slow; Postgres or the state store is unreachable')
  async start(@Query() query: Record<string, string | string[] | undefined>, @Req() req: Request, @Res() res: Response): Promise<void> {
    const { return_to: returnTo, provider } = query;
    if (Array.isArray(returnTo)) throw new OidcError('invalid_return_to', 'return_to must be given at most once');
    if (req.get('sec-fetch-site') === 'cross-site' && this.cookies.sessionToken(req)) {
      // Another site cannot make a signed-in browser sign in again (a hostile provider would answer at
      // once with its own account and swap the user): it just goes where it was headed.
      res.redirect(302, this.login.returnTo(returnTo));
      return;
    }
    if (Array.isArray(provider)) throw new OidcError('unknown_provider', 'provider must be given at most once');
    const params = parseLoginParams(query);
    const { redirectUrl, state, browserBinding } = await this.login.start(provider || undefined, returnTo, params);
    this.cookies.setLoginTransaction(res, state, browserBinding);
    res.redirect(302, redirectUrl);
  }

  @Get('link')
  // Guards run in order: the rate limit (class), then a cross-site start is refused before anything is looked up.
  @UseGuards(SameOriginNavigationGuard)
  @ApiCookieAuth('session')
  @ApiOperation({
    summary: 'Link another identity to the signed-in account',
    description:
      'Needs a live session cookie of this browser (Bearer is not accepted: this is a browser redirect flow). Starts a login at ' +
      '`provider`, always with a fresh authentication there (`max_age=0`, auth_time checked; `prompt=none` refused), bound to this ' +
      'browser like a login (`oidc_tx_<id>` cookie) and to this session. Its callback (the provider\'s usual one) links the identity ' +
      '(issuer, subject) to this account and redirects to return_to: no new session, the tokens of that exchange are not kept. At the ' +
      'callback: another or no session in the browser → 401 unauthenticated; the identity linked to another account, or this account ' +
      'already linked to another identity of that provider → 409 identity_conflict; already linked to this account → success, nothing ' +
      'changes. A start that the browser marks as cross-site or same-site (`Sec-Fetch-Site`), or with a foreign `Origin`, is refused.',
  })
  @ApiQuery({ name: 'provider', required: false, description: 'Provider id (`GET /auth/oidc/providers`); default: provider `default`, or the only one' })
  @ApiQuery({ name: 'return_to', required: false, description: 'Relative path, or absolute URL on OIDC_RETURN_TO_ALLOWED_HOSTS' })
  @ApiQuery({ name: 'prompt', required: false, description: 'As for login, except `none`' })
  @ApiQuery({ name: 'acr_values', required: false, description: 'As for login: the ID token\'s acr must be one of them' })
  @ApiQuery({ name: 'login_hint', required: false, description: 'Passed to the OP (1-256 printable characters)' })
  @ApiQuery({ name: 'ui_locales', required: false, description: 'Space-separated language tags, passed to the OP' })
  @ApiFoundResponse({ description: 'Redirect to the OP authorization endpoint' })
  @ApiErrorResponse(400, ['invalid_return_to', 'unknown_provider', 'invalid_login_parameter'])
  @ApiErrorResponse(401, ['unauthenticated'], 'no live session cookie in this browser')
  @ApiErrorResponse(403, ['csrf_rejected'], 'started from another site')
  @ApiErrorResponse(429, ['too_many_requests'], 'rate limit (OIDC_RATE_LIMIT) reached; see Retry-After')
  @ApiErrorResponse(503, ['provider_unavailable', 'service_unavailable'], 'the OP is unreachable or too slow; Postgres or the state store is unreachable')
  async link(@Query() query: Record<string, string | string[] | undefined>, @Req() req: Request, @Res() res: Response): Promise<void> {
    const { return_to: returnTo, provider } = query;
    if (Array.isArray(returnTo)) throw new OidcError('invalid_return_to', 'return_to must be given at most once');
    if (Array.isArray(provider)) throw new OidcError('unknown_provider', 'provider must be given at most once');
    const params = parseLoginParams(query);
    const started = await this.login.startLink(this.cookies.sessionToken(req), provider || undefined, returnTo, params, req.originalUrl, callerOf(req));
    if ('reauthenticateAt' in started) {
      // The session's user signed in too long ago: a fresh sign-in at their provider first, which comes back here.
      res.redirect(302, started.reauthenticateAt);
      return;
    }
    this.cookies.setLoginTransaction(res, started.state, started.browserBinding);
    res.redirect(302, started.redirectUrl);
  }

  @Get('callback')
  @CallbackDocs()
  async callback(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.complete(req, res, undefined);
  }

  @Get('callback/:provider')
  @CallbackDocs()
  @ApiParam({ name: 'provider', description: 'The id of the provider this callback belongs to (its redirect URI)' })
  async providerCallback(@Req() req: Request, @Res() res: Response, @Param('provider') provider: string): Promise<void> {
    await this.complete(req, res, provider);
  }

  private async complete(req: Request, res: Response, provider: string | undefined): Promise<void> {
    const rawQuery = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
    const outcome = await this.login.callback(
      provider,
      new URLSearchParams(rawQuery),
      rawQuery,
      this.cookies.loginTransaction(req),
      req.get('user-agent'),
      this.cookies.sessionToken(req),
      callerOf(req),
    );
    this.cookies.clearLoginTransaction(req, res);
    if (outcome.kind === 'linked') {
      // The browser keeps the session it linked from: no new session, nothing replaced.
      res.redirect(302, outcome.returnTo);
      return;
    }
    if (outcome.kind === 'bind') {
      this.cookies.setBindBinding(res, outcome.bind.token, outcome.bind.browserBinding);
      res.redirect(302, outcome.bind.redirectUrl);
      return;
    }
    await this.sessions.retireReplaced(this.cookies.sessionToken(req), outcome.issued.session.id, callerOf(req));
    this.cookies.setSession(res, outcome.issued.token, outcome.issued.session.expiresAt);
    res.redirect(302, outcome.returnTo);
  }
}
