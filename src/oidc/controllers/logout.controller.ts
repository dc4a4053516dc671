import { Body, Controller, HttpCode, Post, Res, UseFilters, UseGuards, UsePipes } from '@nestjs/common';
import { ApiBearerAuth, ApiCookieAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { LogoutRequestDto, LogoutResponseDto } from '../dto/logout.dto';
import { ApiErrorResponse } from '../dto/api-error-response.decorator';
import { OidcExceptionFilter } from '../errors/oidc-exception.filter';
import { CurrentUser } from '../guards/current-user.decorator';
import { SameOriginGuard } from '../guards/same-origin.guard';
import { SessionGuard } from '../guards/session.guard';
import { LogoutService } from '../services/logout.service';
import { SessionCookieService } from '../services/session-cookie.service';
import type { AuthenticatedSession } from '../services/session.service';
import { strictValidation } from './validation';
import { callerOf } from '../observability/request-context';

@ApiTags('logout')
@ApiCookieAuth('session')
@ApiBearerAuth('session')
@Controller('auth/oidc/logout')
@UseFilters(OidcExceptionFilter)
@UseGuards(SameOriginGuard, SessionGuard)
@UsePipes(strictValidation)
export class LogoutController {
  constructor(
    private readonly logouts: LogoutService,
    private readonly cookies: SessionCookieService,
  ) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'RP-Initiated Logout',
    description:
      'Revokes this session (or all of the user\'s with `everywhere`), deletes their cached tokens, clears the cookie and ' +
      'revokes the refresh tokens at the OP (best effort). Returns `endSessionUrl` built from this session\'s own ' +
      'id_token, consumed once; the response then carries `Cache-Control: no-store` and `Pragma: no-cache`.',
  })
  @ApiOkResponse({ type: LogoutResponseDto })
  @ApiErrorResponse(400, ['invalid_request'])
  @ApiErrorResponse(401, ['unauthenticated'], 'no, revoked or expired session')
  @ApiErrorResponse(403, ['csrf_rejected'], 'cross-site request')
  @ApiErrorResponse(415, ['unsupported_media_type'], 'the body must be application/json')
  @ApiErrorResponse(413, ['payload_too_large'], 'body over 32 kB')
  @ApiErrorResponse(503, ['service_unavailable'], 'Postgres or the state store unreachable')
  async logout(
    @CurrentUser() current: AuthenticatedSession,
    @Body() body: LogoutRequestDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<LogoutResponseDto> {
    const { endSessionUrl } = await this.logouts.logout(current, body?.everywhere === true, callerOf(res.req));
    this.cookies.clearSession(res);
    return endSessionUrl ? { endSessionUrl } : {};
  }
}
