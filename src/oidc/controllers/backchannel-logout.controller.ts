import { applyDecorators, type ArgumentsHost, Catch, Controller, type ExceptionFilter, Injectable, Param, Post, Req, Res, UseFilters } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { BackchannelLogoutDto } from '../dto/logout.dto';
import { ApiBackchannelErrorResponse } from '../dto/api-error-response.decorator';
import { routeOf } from '../middleware/module-http.middleware';
import { callerOf } from '../observability/request-context';
import { BackchannelEndpoint } from '../services/backchannel-endpoint.service';

/** The route of both back-channel paths (`BackchannelDirectPath` serves the same paths ahead of the host's stack). */
export const BACKCHANNEL_LOGOUT_PATH = 'auth/oidc/backchannel-logout';

/** What both back-channel routes answer and document. */
const BackchannelDocs = (summary: string, description?: string) =>
  applyDecorators(
    ApiOperation({ summary, description }),
    ApiConsumes('application/x-www-form-urlencoded'),
    ApiBody({ type: BackchannelLogoutDto }),
    ApiOkResponse({ description: 'Logged out (empty body, Cache-Control: no-store)' }),
    ApiBackchannelErrorResponse(400, 'unknown provider, any validation failure, replay, non-form or oversized body', 'logout_token has expired'),
    ApiBackchannelErrorResponse(429, 'this client sent too many rejected logout requests (OIDC_BACKCHANNEL_RATE_LIMIT); retry after Retry-After', 'Too many rejected logout requests; retry in 30 s'),
    ApiBackchannelErrorResponse(503, 'the revocation could not be written, or the signing key is unknown for now; retry', 'A backing service is unavailable; retry later'),
  );

/**
 * What the host's own guards, pipes or interceptors throw on this route (the endpoint itself answers
 * every failure of its own): answered in the spec's shape too, never charged to the client's budget.
 */
@Catch()
@Injectable()
export class BackchannelErrorFilter implements ExceptionFilter {
  constructor(private readonly endpoint: BackchannelEndpoint) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    this.endpoint.refuseForHost(http.getResponse<Response>(), exception, callerOf(http.getRequest<Request>()));
  }
}

/**
 * Back-Channel Logout 1.0, one endpoint per provider. What the endpoint does is `BackchannelEndpoint`;
 * this controller is the Nest route to it (and its Swagger page). With `backchannelDirectPath` the same
 * paths are served by `BackchannelDirectPath` before Express routes them: this route then answers only
 * the spellings Express also matches (a trailing slash, another letter case).
 */
@ApiTags('logout')
@Controller(BACKCHANNEL_LOGOUT_PATH)
@UseFilters(BackchannelErrorFilter)
export class BackchannelLogoutController {
  constructor(private readonly endpoint: BackchannelEndpoint) {}

  @Post()
  @BackchannelDocs(
    'Back-Channel Logout 1.0 (called by the OpenID Provider)',
    'Verifies the logout_token (signature against the OP JWKS, iss, aud, iat, exp, jti, events, no nonce, sub/sid, typ), ' +
      'rejects a replayed jti, then revokes the live sessions of (issuer, sid), or of (issuer, sub) when there is no sid. ' +
      'A token that matches no session is still a success. Each provider has its own endpoint, `…/backchannel-logout/<provider id>`, ' +
      "where a token is verified against that provider's keys, issuer and client id only; the path without an id is provider `default` " +
      '(or the only provider). With OIDC_BACKCHANNEL_DIRECT_PATH (module option backchannelDirectPath) both paths are answered ' +
      "ahead of the host's app-wide middleware, global guards and interceptors.",
  )
  async logout(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.endpoint.serve({ req, res, providerId: undefined, route: routeOf(req), handler: 'logout', clientIp: () => req.ip });
  }

  @Post(':provider')
  @BackchannelDocs("Back-Channel Logout 1.0 for one provider: the token is verified against that provider's keys, issuer and client id only")
  @ApiParam({ name: 'provider', description: 'The provider id (OIDC_PROVIDERS)' })
  async providerLogout(@Req() req: Request, @Res() res: Response, @Param('provider') providerId: string): Promise<void> {
    await this.endpoint.serve({ req, res, providerId, route: routeOf(req), handler: 'providerLogout', clientIp: () => req.ip });
  }
}
