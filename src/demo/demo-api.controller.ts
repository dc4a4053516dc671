import { Controller, Get, Header, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCookieAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AccessToken, ApiErrorResponse, type AuthenticatedSession, CurrentUser, IdpClientService, OidcError, RequireAuthentication, SessionGuard } from '../oidc';

/** The acr the demo's step-up route asks for (the development OP's "second factor"). */
const DEMO_STEP_UP_ACR = process.env.DEMO_STEP_UP_ACR || 'urn:dev:loa:2';

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

  @Get('step-up')
  @Header('Cache-Control', 'no-store')
  @RequireAuthentication({ requireAcr: [DEMO_STEP_UP_ACR], maxAge: 600 })
  @ApiOperation({
    summary: 'A "sensitive" demo action: needs a second factor (acr) and a sign-in within the last 10 minutes',
    description:
      `Guarded by \`@RequireAuthentication({ requireAcr: ['${DEMO_STEP_UP_ACR}'], maxAge: 600 })\` (DEMO_STEP_UP_ACR; the development OP ` +
      'grants it with its "second factor" box). Otherwise 401 step_up_required with `stepUp.loginUrl` and a `WWW-Authenticate` challenge (RFC 9470).',
  })
  @ApiOkResponse({ description: 'Done', schema: { type: 'object', example: { ok: true, acr: DEMO_STEP_UP_ACR, authTime: '2026-11-22T12:00:00.000Z' } } })
  @ApiErrorResponse(401, ['unauthenticated', 'step_up_required'], 'no session; or the session\'s acr / auth_time do not meet the requirement (see stepUp.loginUrl)')
  @ApiErrorResponse(503, ['service_unavailable'], 'Postgres or the state store unreachable')
  stepUp(@CurrentUser() { session }: AuthenticatedSession): { ok: true; acr: string | null; authTime: Date | null } {
    return { ok: true, acr: session.acr, authTime: session.authTime };
  }
}
