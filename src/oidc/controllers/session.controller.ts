import { Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ApiBearerAuth, ApiCookieAuth, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrorResponse } from '../dto/api-error-response.decorator';
import { CurrentSessionDto, type SessionInfoDto, SessionListDto } from '../dto/session.dto';
import type { SessionEntity } from '../entities/session.entity';
import { OidcExceptionFilter } from '../errors/oidc-exception.filter';
import { CurrentUser } from '../guards/current-user.decorator';
import { SameOriginGuard } from '../guards/same-origin.guard';
import { SessionGuard } from '../guards/session.guard';
import { IdpClientService } from '../services/idp-client.service';
import { type AuthenticatedSession, SessionService } from '../services/session.service';
import { callerOf } from '../observability/request-context';
import { answerJsonDirectly } from '../util/json-response';

@ApiTags('sessions')
@ApiCookieAuth('session')
@ApiBearerAuth('session')
@Controller('auth')
@UseFilters(OidcExceptionFilter)
export class SessionController {
  constructor(
    private readonly sessions: SessionService,
    private readonly idp: IdpClientService,
  ) {}

  @Get('session')
  @UseGuards(SessionGuard)
  @ApiOperation({ summary: 'The caller and their current session' })
  @ApiOkResponse({ type: CurrentSessionDto })
  @ApiErrorResponse(401, ['unauthenticated'], 'no, revoked or expired session')
  @ApiErrorResponse(503, ['service_unavailable'], 'Postgres or the state store unreachable')
  // Every authenticated page of a frontend asks this: its JSON is written without Express's ETag,
  // charset and content-type work (`answerJsonDirectly`), which cost more than the JSON itself.
  current(@CurrentUser() { session, user }: AuthenticatedSession, @Res({ passthrough: true }) res: Response): CurrentSessionDto {
    answerJsonDirectly(res);
    return { user: { id: user.id, email: user.email, displayName: user.displayName }, session: this.toInfo(session) };
  }

  @Get('sessions')
  @UseGuards(SessionGuard)
  @ApiOperation({ summary: 'The caller\'s live sessions' })
  @ApiOkResponse({ type: SessionListDto })
  @ApiErrorResponse(401, ['unauthenticated'], 'no, revoked or expired session')
  @ApiErrorResponse(503, ['service_unavailable'], 'Postgres or the state store unreachable')
  async list(@CurrentUser() { session, user }: AuthenticatedSession, @Res({ passthrough: true }) res: Response): Promise<SessionListDto> {
    answerJsonDirectly(res);
    const live = await this.sessions.listLive(user.id);
    return { sessions: live.map((s) => ({ ...this.toInfo(s), lastSeenAt: isoDate(s.lastSeenAt), userAgent: s.userAgent, current: s.id === session.id })) };
  }

  @Delete('sessions/:id')
  @HttpCode(204)
  // Cross-site requests are refused before the session is even looked up (and touched).
  @UseGuards(SameOriginGuard, SessionGuard)
  @ApiOperation({ summary: 'Revoke one of the caller\'s own live sessions' })
  @ApiNoContentResponse({ description: 'Revoked' })
  @ApiErrorResponse(400, ['invalid_request'], 'id is not a uuid')
  @ApiErrorResponse(401, ['unauthenticated'], 'no, revoked or expired session')
  @ApiErrorResponse(403, ['csrf_rejected'], 'cross-site request')
  @ApiErrorResponse(404, ['session_not_found'], 'not live or not yours')
  @ApiErrorResponse(415, ['unsupported_media_type'], 'a body, if any, must be application/json')
  @ApiErrorResponse(503, ['service_unavailable'], 'Postgres or the state store unreachable')
  async revoke(@CurrentUser() { user }: AuthenticatedSession, @Param('id', new ParseUUIDPipe()) id: string, @Req() req: Request): Promise<void> {
    await this.sessions.revokeOwn(user.id, id, callerOf(req));
  }

  private toInfo(session: SessionEntity): SessionInfoDto {
    return {
      id: session.id,
      provider: this.idp.forIssuer(session.issuer)?.id ?? null,
      issuer: session.issuer,
      subject: session.subject,
      sid: session.oidcSid,
      acr: session.acr ?? null,
      authTime: session.authTime ? isoDate(session.authTime) : null,
      createdAt: isoDate(session.createdAt),
      expiresAt: isoDate(session.expiresAt),
    };
  }
}

/**
 * A date as JSON writes it (ISO 8601; null for an invalid one, as `Date#toJSON`), as a string already:
 * `JSON.stringify` leaves its fast path for an object that holds a Date.
 */
function isoDate(date: Date): string {
  return date.toJSON() as string;
}
