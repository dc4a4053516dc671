import { Body, Controller, Get, HttpCode, Logger, Post, Query, Req, Res, UseFilters, UseGuards, UsePipes } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { BindConfirmDto, BindCreateDto, BindInfoDto, BindResultDto, BindTokenQueryDto } from '../dto/bind.dto';
import { ApiErrorResponse } from '../dto/api-error-response.decorator';
import { OidcExceptionFilter } from '../errors/oidc-exception.filter';
import { RateLimitGuard } from '../guards/rate-limit.guard';
import { SameOriginGuard } from '../guards/same-origin.guard';
import { type BindOutcome, type BindRequester, BindService } from '../services/bind.service';
import { SessionCookieService } from '../services/session-cookie.service';
import { SessionService } from '../services/session.service';
import { strictValidation } from './validation';
import { callerOf } from '../observability/request-context';

let warnedForwardedFor = false;

@ApiTags('account binding')
@Controller('auth/oidc/bind')
@UseFilters(OidcExceptionFilter)
@UseGuards(RateLimitGuard)
@UsePipes(strictValidation)
export class BindController {
  private readonly logger = new Logger('Bind');

  constructor(
    private readonly binds: BindService,
    private readonly cookies: SessionCookieService,
    private readonly sessions: SessionService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'What the bind page needs: issuer, masked email, name, allowed actions' })
  @ApiOkResponse({ type: BindInfoDto })
  @ApiErrorResponse(400, ['invalid_request'], 'malformed token')
  @ApiErrorResponse(410, ['bind_token_invalid'], 'expired, already used, or not started in this browser')
  @ApiErrorResponse(429, ['too_many_requests'], 'rate limit (OIDC_RATE_LIMIT) reached; see Retry-After')
  @ApiErrorResponse(503, ['service_unavailable'], 'Postgres or the state store unreachable')
  async info(@Query() query: BindTokenQueryDto, @Req() req: Request): Promise<BindInfoDto> {
    return this.binds.info(query.token, this.requester(req, query.token));
  }

  @Post('confirm')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Link the OIDC identity to an existing local account',
    description:
      'Proves ownership with the account verifier (default: email + password against users.password_hash), links the ' +
      'identity, issues the session cookie and consumes the bind token. Only from the browser that signed in at the OP ' +
      '(bind cookie), same-origin, JSON only. Attempts are limited per token, per account and per client IP.',
  })
  @UseGuards(SameOriginGuard)
  @ApiOkResponse({ type: BindResultDto, description: 'Linked; session cookie set' })
  @ApiErrorResponse(400, ['invalid_request'])
  @ApiErrorResponse(401, ['invalid_credentials'], 'unknown account and wrong password look the same')
  @ApiErrorResponse(403, ['csrf_rejected'], 'cross-site request')
  @ApiErrorResponse(409, ['identity_conflict', 'bind_in_progress'])
  @ApiErrorResponse(410, ['bind_token_invalid'], 'expired, already used, or not started in this browser')
  @ApiErrorResponse(429, ['too_many_attempts', 'too_many_requests'], 'per bind token, per account or per client IP; or the rate limit (OIDC_RATE_LIMIT), see Retry-After')
  @ApiErrorResponse(413, ['payload_too_large'], 'body over 32 kB')
  @ApiErrorResponse(503, ['service_unavailable'], 'Postgres or the state store unreachable')
  @ApiErrorResponse(415, ['unsupported_media_type'], 'the body must be application/json')
  async confirm(@Body() body: BindConfirmDto, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<BindResultDto> {
    return this.respond(req, res, body.token, await this.binds.confirm(body.token, this.requester(req, body.token), body.identifier, body.password));
  }

  @Post('create')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Create a local account from the verified claims and link it',
    description:
      'Allowed when OIDC_BIND_ALLOW_CREATE is true and the OP says the email is verified. Only from the browser that signed ' +
      'in at the OP (bind cookie), same-origin, JSON only.',
  })
  @UseGuards(SameOriginGuard)
  @ApiOkResponse({ type: BindResultDto, description: 'Created and linked; session cookie set' })
  @ApiErrorResponse(400, ['invalid_request'])
  @ApiErrorResponse(403, ['create_not_allowed', 'email_not_verified', 'csrf_rejected'])
  @ApiErrorResponse(413, ['payload_too_large'], 'body over 32 kB')
  @ApiErrorResponse(409, ['email_in_use', 'identity_conflict', 'bind_in_progress'])
  @ApiErrorResponse(410, ['bind_token_invalid'], 'expired, already used, or not started in this browser')
  @ApiErrorResponse(429, ['too_many_requests'], 'rate limit (OIDC_RATE_LIMIT) reached; see Retry-After')
  @ApiErrorResponse(503, ['service_unavailable'], 'Postgres or the state store unreachable')
  @ApiErrorResponse(415, ['unsupported_media_type'], 'the body must be application/json')
  async create(@Body() body: BindCreateDto, @Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<BindResultDto> {
    return this.respond(req, res, body.token, await this.binds.create(body.token, this.requester(req, body.token)));
  }

  private requester(req: Request, token: string): BindRequester {
    if (!warnedForwardedFor && req.headers['x-forwarded-for'] && !req.app?.get('trust proxy')) {
      warnedForwardedFor = true;
      this.logger.warn({
        msg: 'client_ip.forwarded_for_ignored',
        detail: 'requests carry X-Forwarded-For but TRUST_PROXY is off: every client behind the proxy shares its address for the bind limits',
      });
    }
    return { browserBinding: this.cookies.bindBinding(req, token), clientIp: req.ip ?? 'unknown', userAgent: req.get('user-agent'), caller: callerOf(req) };
  }

  private async respond(req: Request, res: Response, token: string, outcome: BindOutcome): Promise<BindResultDto> {
    await this.sessions.retireReplaced(this.cookies.sessionToken(req), outcome.issued.session.id, callerOf(req));
    this.cookies.setSession(res, outcome.issued.token, outcome.issued.session.expiresAt);
    this.cookies.clearBindBinding(res, token);
    return { returnTo: outcome.returnTo, sessionId: outcome.issued.session.id };
  }
}
