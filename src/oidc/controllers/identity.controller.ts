import { Controller, Delete, Get, HttpCode, Inject, Param, ParseUUIDPipe, Res, UseFilters, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCookieAuth, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ApiErrorResponse } from '../dto/api-error-response.decorator';
import { IdentityListDto } from '../dto/identity.dto';
import { OidcExceptionFilter } from '../errors/oidc-exception.filter';
import { CurrentUser } from '../guards/current-user.decorator';
import { SameOriginGuard } from '../guards/same-origin.guard';
import { SessionGuard } from '../guards/session.guard';
import { IdentityService } from '../services/identity.service';
import { SessionCookieService } from '../services/session-cookie.service';
import type { AuthenticatedSession } from '../services/session.service';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { IdpClientService } from '../services/idp-client.service';
import { assertRecentAuthentication } from '../util/step-up';
import { callerOf } from '../observability/request-context';

@ApiTags('identities')
@ApiCookieAuth('session')
@ApiBearerAuth('session')
@Controller('auth/identities')
@UseFilters(OidcExceptionFilter)
export class IdentityController {
  constructor(
    private readonly identities: IdentityService,
    private readonly cookies: SessionCookieService,
    private readonly idp: IdpClientService,
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
  ) {}

  @Get()
  @UseGuards(SessionGuard)
  @ApiOperation({ summary: 'The OpenID identities linked to the caller\'s account' })
  @ApiOkResponse({ type: IdentityListDto })
  @ApiErrorResponse(401, ['unauthenticated'], 'no, revoked or expired session')
  @ApiErrorResponse(503, ['service_unavailable'], 'Postgres or the state store unreachable')
  async list(@CurrentUser() { user }: AuthenticatedSession): Promise<IdentityListDto> {
    return { identities: await this.identities.list(user.id) };
  }

  @Delete(':id')
  @HttpCode(204)
  // Cross-site requests are refused before the session is even looked up (and touched).
  @UseGuards(SameOriginGuard, SessionGuard)
  @ApiOperation({
    summary: 'Unlink one of the caller\'s identities',
    description:
      'Refused while it is the account\'s only way to sign in (no other identity, no password). The caller\'s live sessions that ' +
      'signed in through that identity are revoked (`identity_unlinked`), the current one included (its cookie is then cleared).',
  })
  @ApiNoContentResponse({ description: 'Unlinked; the sessions made through it are revoked' })
  @ApiErrorResponse(400, ['invalid_request'], 'id is not a uuid')
  @ApiErrorResponse(401, ['unauthenticated', 'step_up_required'], 'no, revoked or expired session; or its user signed in longer ago than OIDC_IDENTITY_CHANGE_MAX_AUTH_AGE (sign in again through stepUp.loginUrl)')
  @ApiErrorResponse(403, ['csrf_rejected'], 'cross-site request')
  @ApiErrorResponse(404, ['identity_not_found'], 'not linked to your account')
  @ApiErrorResponse(409, ['last_sign_in_method'], 'the account would be left with no identity and no password')
  @ApiErrorResponse(415, ['unsupported_media_type'], 'a body, if any, must be application/json')
  @ApiErrorResponse(503, ['service_unavailable'], 'Postgres or the state store unreachable')
  async unlink(
    @CurrentUser() { user, session }: AuthenticatedSession,
    @Param('id', new ParseUUIDPipe()) id: string,
    @Res({ passthrough: true }) res: Response,
  ): Promise<void> {
    assertRecentAuthentication(session, this.idp.forIssuer(session.issuer)?.options, {
      maxAgeMs: this.options.identityChangeMaxAuthAgeMs,
      clockToleranceSec: this.options.clockToleranceSec,
    });
    const revoked = await this.identities.unlink(user.id, id, callerOf(res.req));
    if (revoked.includes(session.id)) this.cookies.clearSession(res);
  }
}
