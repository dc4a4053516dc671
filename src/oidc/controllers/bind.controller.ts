import { Body, Controller, Get, HttpCode, Post, Query, Res, UseFilters, UsePipes } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { BindConfirmDto, BindCreateDto, BindInfoDto, BindResultDto, BindTokenQueryDto } from '../dto/bind.dto';
import { ErrorDto } from '../dto/session.dto';
import { OidcExceptionFilter } from '../errors/oidc-exception.filter';
import { type BindOutcome, BindService } from '../services/bind.service';
import { SessionCookieService } from '../services/session-cookie.service';
import { strictValidation } from './validation';

@ApiTags('account binding')
@Controller('auth/oidc/bind')
@UseFilters(OidcExceptionFilter)
@UsePipes(strictValidation)
export class BindController {
  constructor(
    private readonly binds: BindService,
    private readonly cookies: SessionCookieService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'What the bind page needs: issuer, masked email, name, allowed actions' })
  @ApiOkResponse({ type: BindInfoDto })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'invalid_request: malformed token' })
  @ApiResponse({ status: 410, type: ErrorDto, description: 'bind_token_invalid: expired or already used' })
  @ApiResponse({ status: 503, type: ErrorDto, description: 'service_unavailable: Postgres or Redis unreachable' })
  async info(@Query() query: BindTokenQueryDto, @Res({ passthrough: true }) res: Response): Promise<BindInfoDto> {
    res.setHeader('Cache-Control', 'no-store');
    return this.binds.info(query.token);
  }

  @Post('confirm')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Link the OIDC identity to an existing local account',
    description:
      'Proves ownership with the account verifier (default: email + password against users.password_hash), links the ' +
      'identity, issues the session cookie and consumes the bind token. Attempts are limited per token and per account.',
  })
  @ApiOkResponse({ type: BindResultDto, description: 'Linked; session cookie set' })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'invalid_request' })
  @ApiResponse({ status: 401, type: ErrorDto, description: 'invalid_credentials (unknown account and wrong password look the same)' })
  @ApiResponse({ status: 409, type: ErrorDto, description: 'identity_conflict, bind_in_progress' })
  @ApiResponse({ status: 410, type: ErrorDto, description: 'bind_token_invalid' })
  @ApiResponse({ status: 429, type: ErrorDto, description: 'too_many_attempts' })
  @ApiResponse({ status: 413, type: ErrorDto, description: 'payload_too_large: body over 32 kB' })
  @ApiResponse({ status: 503, type: ErrorDto, description: 'service_unavailable: Postgres or Redis unreachable' })
  async confirm(@Body() body: BindConfirmDto, @Res({ passthrough: true }) res: Response): Promise<BindResultDto> {
    return this.respond(res, await this.binds.confirm(body.token, body.identifier, body.password));
  }

  @Post('create')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Create a local account from the verified claims and link it',
    description: 'Allowed when OIDC_BIND_ALLOW_CREATE is true and the OP says the email is verified.',
  })
  @ApiOkResponse({ type: BindResultDto, description: 'Created and linked; session cookie set' })
  @ApiResponse({ status: 400, type: ErrorDto, description: 'invalid_request' })
  @ApiResponse({ status: 403, type: ErrorDto, description: 'create_not_allowed, email_not_verified' })
  @ApiResponse({ status: 413, type: ErrorDto, description: 'payload_too_large: body over 32 kB' })
  @ApiResponse({ status: 409, type: ErrorDto, description: 'email_in_use, identity_conflict, bind_in_progress' })
  @ApiResponse({ status: 410, type: ErrorDto, description: 'bind_token_invalid' })
  @ApiResponse({ status: 503, type: ErrorDto, description: 'service_unavailable: Postgres or Redis unreachable' })
  async create(@Body() body: BindCreateDto, @Res({ passthrough: true }) res: Response): Promise<BindResultDto> {
    return this.respond(res, await this.binds.create(body.token));
  }

  private respond(res: Response, outcome: BindOutcome): BindResultDto {
    this.cookies.setSession(res, outcome.issued.token, outcome.issued.session.expiresAt);
    res.setHeader('Cache-Control', 'no-store');
    return { returnTo: outcome.returnTo, sessionId: outcome.issued.session.id };
  }
}
