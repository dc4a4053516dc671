import { Controller, Get, Header, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCookieAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AccessToken, ApiErrorResponse, type AuthenticatedSession, CurrentUser, IdpClientService, OidcError, SessionGuard } from '../oidc';

/**
 * The demo host's own API (not part of OidcModule): a downstream call made as the signed-in user,
 * with the access token OidcModule keeps fresh for the session.
 */
@ApiTags('demo')
@ApiCookieAuth('session')
@ApiBearerAuth('session')
@Controller('api')
@UseGuards(SessionGuard)
export class DemoApiController {
  constructor(private readonly idp: IdpClientService) {}

  @Get('userinfo')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: "The OP's UserInfo for the signed-in user, called with the session's access token",
    description: 'The access token is refreshed (once per session, across instances) when it is about to expire.',
  })
  @ApiOkResponse({ description: "The OP's UserInfo response", schema: { type: 'object', example: { sub: 'alice', email: 'alice@corp.example' } } })
  @ApiErrorResponse(401, ['unauthenticated', 'no_refresh_token', 'refresh_failed'], 'the session is gone or was revoked: sign in again')
  @ApiErrorResponse(503, ['service_unavailable', 'provider_unavailable'], 'the OpenID Provider or a store is unreachable; the session is kept')
  async userinfo(@CurrentUser() { session }: AuthenticatedSession, @AccessToken() accessToken: string): Promise<Record<string, unknown>> {
    const provider = this.idp.forIssuer(session.issuer);
    if (!provider) throw new OidcError('unauthenticated', 'The OpenID Provider of this session is no longer configured; sign in again');
    return provider.fetchUserInfo(accessToken, session.subject);
  }
}
