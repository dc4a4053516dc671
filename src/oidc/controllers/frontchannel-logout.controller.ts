import { applyDecorators, Controller, Get, Param, Query, Req, Res, UseFilters } from '@nestjs/common';
import { ApiCookieAuth, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiErrorResponse } from '../dto/api-error-response.decorator';
import { OidcError } from '../errors/oidc-error';
import { OidcExceptionFilter } from '../errors/oidc-exception.filter';
import { FrontchannelLogoutService } from '../services/frontchannel-logout.service';
import { IdpClientService } from '../services/idp-client.service';
import { SessionCookieService } from '../services/session-cookie.service';
import { frontchannelCsp, MAX_FRONTCHANNEL_SID_LENGTH } from '../util/frontchannel';
import { callerOf } from '../observability/request-context';

const FRONTCHANNEL_LOGOUT_PATH = 'auth/oidc/frontchannel-logout';

/** What both routes document. */
const FrontchannelDocs = () =>
  applyDecorators(
    ApiCookieAuth('session'),
    ApiQuery({ name: 'iss', required: true, description: "The provider's issuer, exactly" }),
    ApiQuery({ name: 'sid', required: true, description: `The OP session id (the \`sid\` of the ID tokens), 1-${MAX_FRONTCHANNEL_SID_LENGTH} visible ASCII characters` }),
    ApiOkResponse({
      description:
        'An empty HTML page (no body), the same whether a session ended or not; `Cache-Control: no-store` and ' +
        "`Content-Security-Policy: default-src 'none'; …; frame-ancestors <the issuer's origin>`.",
      content: { 'text/html': { schema: { type: 'string', maxLength: 0 } } },
    }),
    ApiErrorResponse(400, ['invalid_request', 'unknown_provider'], 'iss missing or not the issuer of this provider, sid missing, too long or repeated (nothing ended); no such provider'),
    ApiErrorResponse(503, ['service_unavailable'], 'Postgres unreachable: nothing ended'),
  );

@ApiTags('logout')
@Controller(FRONTCHANNEL_LOGOUT_PATH)
@UseFilters(OidcExceptionFilter)
// No per-IP rate limit: anyone sharing the user's IP (a page firing bogus requests from the user's own
// browser) could spend it and make the OP's real logout iframe fail. Each request costs at most one
// indexed statement and answers the same.
export class FrontchannelLogoutController {
  constructor(
    private readonly frontchannel: FrontchannelLogoutService,
    private readonly idp: IdpClientService,
    private readonly cookies: SessionCookieService,
  ) {}

  @Get()
  @ApiOperation({
    summary: 'Front-Channel Logout 1.0 (loaded by the OpenID Provider in an iframe)',
    description:
      'Register `…/frontchannel-logout/<provider id>` as the client\'s `frontchannel_logout_uri` with ' +
      '`frontchannel_logout_session_required: true`; this path without an id is provider `default` (or the only provider). ' +
      'Ends the session of the browser that loads it (its session cookie) when that session belongs to (iss, sid). With the ' +
      "provider's opt-in `frontchannelLogout.withoutCookie` (`OIDC_FRONTCHANNEL_LOGOUT_WITHOUT_COOKIE`) it ends the live sessions " +
      'of (iss, sid) without a cookie too: anyone who learns a sid can then end that session. Sessions end with reason ' +
      '`frontchannel_logout`; their cached tokens are dropped and refresh tokens revoked at the OP. Prefer Back-Channel Logout ' +
      'where the OP offers it.',
  })
  @FrontchannelDocs()
  async logout(@Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.answer(undefined, query, req, res);
  }

  @Get(':provider')
  @ApiOperation({ summary: 'Front-Channel Logout 1.0 for one provider: `iss` must be that provider\'s issuer' })
  @ApiParam({ name: 'provider', description: 'The provider id (OIDC_PROVIDERS)' })
  @FrontchannelDocs()
  async providerLogout(@Param('provider') providerId: string, @Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.answer(providerId, query, req, res);
  }

  private async answer(providerId: string | undefined, query: Record<string, unknown>, req: Request, res: Response): Promise<void> {
    const provider = providerId === undefined ? this.idp.defaultProvider() : this.idp.find(providerId);
    if (!provider) throw new OidcError('unknown_provider', 'No OpenID Provider is configured for this front-channel logout endpoint');
    await this.frontchannel.logout(provider, query, this.cookies.sessionToken(req), callerOf(req));
    res
      .status(200)
      .set({ 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': '0', 'Content-Security-Policy': frontchannelCsp(provider.issuer) })
      .end();
  }
}
