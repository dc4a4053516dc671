import { BackchannelFloodGuard } from '../guards/backchannel-flood.guard';
import { applyDecorators, Controller, Header, HttpCode, Param, Post, Req, UseFilters, UseGuards } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { BackchannelLogoutDto } from '../dto/logout.dto';
import { ApiBackchannelErrorResponse } from '../dto/api-error-response.decorator';
import { OidcError } from '../errors/oidc-error';
import { BackchannelErrorFilter } from '../errors/oidc-exception.filter';
import { BackchannelLogoutService } from '../services/backchannel-logout.service';
import { IdpClientService } from '../services/idp-client.service';
import { MAX_LOGOUT_TOKEN_LENGTH } from '../services/logout-token-verifier.service';
import { callerOf } from '../observability/request-context';

const BACKCHANNEL_LOGOUT_PATH = 'auth/oidc/backchannel-logout';

/** What both back-channel routes answer and document. */
const BackchannelDocs = (summary: string, description?: string) =>
  applyDecorators(
    HttpCode(200),
    Header('Cache-Control', 'no-store'),
    ApiOperation({ summary, description }),
    ApiConsumes('application/x-www-form-urlencoded'),
    ApiBody({ type: BackchannelLogoutDto }),
    ApiOkResponse({ description: 'Logged out (empty body, Cache-Control: no-store)' }),
    ApiBackchannelErrorResponse(400, 'unknown provider, any validation failure, replay, non-form or oversized body', 'logout_token has expired'),
    ApiBackchannelErrorResponse(429, 'this client sent too many rejected logout requests (OIDC_BACKCHANNEL_RATE_LIMIT); retry after Retry-After', 'Too many rejected logout requests; retry in 30 s'),
    ApiBackchannelErrorResponse(503, 'the revocation could not be written, or the signing key is unknown for now; retry', 'A backing service is unavailable; retry later'),
  );

@ApiTags('logout')
@Controller(BACKCHANNEL_LOGOUT_PATH)
@UseFilters(BackchannelErrorFilter)
@UseGuards(BackchannelFloodGuard)
export class BackchannelLogoutController {
  constructor(
    private readonly backchannel: BackchannelLogoutService,
    private readonly idp: IdpClientService,
  ) {}

  @Post()
  @BackchannelDocs(
    'Back-Channel Logout 1.0 (called by the OpenID Provider)',
    'Verifies the logout_token (signature against the OP JWKS, iss, aud, iat, exp, jti, events, no nonce, sub/sid, typ), ' +
      'rejects a replayed jti, then revokes the live sessions of (issuer, sid), or of (issuer, sub) when there is no sid. ' +
      'A token that matches no session is still a success. Each provider has its own endpoint, `…/backchannel-logout/<provider id>`, ' +
      "where a token is verified against that provider's keys, issuer and client id only; the path without an id is provider `default` " +
      '(or the only provider).',
  )
  async logout(@Req() req: Request): Promise<void> {
    await this.accept(req, undefined);
  }

  @Post(':provider')
  @BackchannelDocs("Back-Channel Logout 1.0 for one provider: the token is verified against that provider's keys, issuer and client id only")
  @ApiParam({ name: 'provider', description: 'The provider id (OIDC_PROVIDERS)' })
  async providerLogout(@Req() req: Request, @Param('provider') providerId: string): Promise<void> {
    await this.accept(req, providerId);
  }

  private async accept(req: Request, providerId: string | undefined): Promise<void> {
    const provider = providerId === undefined ? this.idp.defaultProvider() : this.idp.find(providerId);
    if (!provider) throw new OidcError('invalid_request', 'No OpenID Provider is configured for this back-channel logout endpoint');
    if (!req.is('application/x-www-form-urlencoded')) {
      throw new OidcError('invalid_request', 'The body must be application/x-www-form-urlencoded');
    }
    const body = req.body as Record<string, unknown> | undefined;
    const token = body?.logout_token;
    if (typeof token !== 'string' || token === '') throw new OidcError('invalid_request', 'logout_token is missing');
    if (token.length > MAX_LOGOUT_TOKEN_LENGTH) throw new OidcError('invalid_request', 'logout_token is too long');
    await this.backchannel.handle(token, provider, callerOf(req));
  }
}
