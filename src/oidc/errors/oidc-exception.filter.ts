import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Inject, Logger } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { Request, Response } from 'express';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { SessionCookieService } from '../services/session-cookie.service';
import { OidcAudit } from '../observability/audit.service';
import { callerOf, type RequestContext } from '../observability/request-context';
import { writeJson } from '../util/json-response';
import { isDependencyDown } from './dependency-down';
import { OidcError, type OidcErrorCode } from './oidc-error';

export interface ErrorBody {
  error: string;
  message: string;
  [detail: string]: unknown;
}

/** Turns any exception into `{error, message}` plus a status; 5xx bodies never carry internals. */
export function toErrorBody(exception: unknown, logger?: Logger): { status: number; body: ErrorBody } {
  if (exception instanceof OidcError) {
    const status = exception.getStatus();
    const fields = { ...exception.logFields, error: exception.code, status };
    if (status >= 500) logger?.error({ msg: 'request.failed', ...fields });
    else logger?.warn({ msg: 'request.rejected', ...fields });
    return { status, body: { error: exception.code, message: exception.message, ...exception.details } };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    const raw = typeof response === 'object' && response !== null ? (response as { message?: unknown }).message : response;
    const message = Array.isArray(raw) ? raw.join('; ') : String(raw ?? exception.message);
    const code: string =
      status === 400 ? 'invalid_request' : status === 413 ? 'payload_too_large' : status === 404 ? 'not_found' : status === 429 ? 'too_many_requests' : 'http_error';
    logger?.warn({ msg: 'request.rejected', error: code, status });
    return { status, body: { error: code, message } };
  }
  const error = exception as { name?: string; code?: string; type?: string; status?: number };
  if (isDependencyDown(exception)) {
    logger?.error({ msg: 'request.failed', error: 'service_unavailable', name: error?.name, errorCode: error?.code });
    return { status: 503, body: { error: 'service_unavailable', message: 'A backing service is unavailable; retry later' } };
  }
  // Body-parser errors (oversized or malformed body) carry a 4xx status.
  if (typeof error?.status === 'number' && error.status >= 400 && error.status < 500) {
    const code = error.status === 413 ? 'payload_too_large' : 'invalid_request';
    logger?.warn({ msg: 'request.rejected', error: code, status: error.status, type: error.type });
    const message = error.status === 413 ? 'Request body is too large' : error.status === 408 ? 'Request body did not arrive in time' : 'Malformed request body';
    return { status: error.status, body: { error: code, message } };
  }
  logger?.error({ msg: 'request.failed', error: 'internal_error', name: error?.name, errorCode: error?.code });
  return { status: 500, body: { error: 'internal_error' satisfies OidcErrorCode, message: 'Internal server error' } };
}

/** Writes the module's JSON error (`{error, message}`) for any exception. */
export function sendJsonError(res: Response, exception: unknown, logger: Logger): void {
  const { status, body } = toErrorBody(exception, logger);
  // An error after the answer went out (a host interceptor failing after a route wrote its response):
  // logged above; writing again would throw ERR_HTTP_HEADERS_SENT. An answer begun and not ended is cut.
  if (res.headersSent) {
    if (!res.writableEnded) res.destroy();
    return;
  }
  res.status(status).setHeader('Cache-Control', 'no-store').json(body);
}

/** The status a back-channel refusal is answered with (see `sendBackchannelError`). */
export function backchannelStatus(exception: unknown): number {
  return answeredStatus(toErrorBody(exception).status);
}

/** Retryable answers keep their status (503, and 429 from the rate limit), and so does a server error; every other refusal is the spec's final 400. */
function answeredStatus(status: number): number {
  return status === 503 || status === 429 || status >= 500 ? status : 400;
}

/**
 * Writes the Back-Channel Logout 1.0 error body (`{error, error_description}`), one log line and one
 * audit line per outcome. Node's own response API: the endpoint also answers outside Express.
 */
export function sendBackchannelError(res: ServerResponse, exception: unknown, logger: Logger, audit: OidcAudit, caller: RequestContext): number {
  const { status, body } = toErrorBody(exception);
  const replay = exception instanceof OidcError && exception.code === 'logout_token_replayed';
  // Anyone can post a token with a made-up kid: a warning, not an error that pages someone.
  if (exception instanceof OidcError && exception.logFields.reason === 'unknown_kid') logger.warn({ msg: 'bcl.unknown_kid', status, reason: body.message });
  else if (status >= 500) logger.error({ msg: 'bcl.failed', status, reason: body.message, name: (exception as Error)?.name });
  else if (replay) logger.warn({ msg: 'bcl.replay' });
  else logger.warn({ msg: 'bcl.rejected', reason: body.message });
  audit.record({
    event: 'backchannel_logout',
    outcome: status === 429 ? 'rate_limited' : status >= 500 ? 'unavailable' : replay ? 'replay' : 'rejected',
    reason: status >= 500 || status === 429 || replay ? undefined : body.message,
  }, caller);
  const retryable = status === 503 || status === 429;
  const error = retryable ? 'temporarily_unavailable' : status >= 500 ? 'server_error' : 'invalid_request';
  if (status === 503) res.setHeader('Retry-After', '5');
  const sent = answeredStatus(status);
  res.setHeader('Cache-Control', 'no-store');
  writeJson(res, sent, { error, error_description: body.message });
  return sent;
}

/** JSON errors for the module's API routes (applied per controller, never app-wide). */
@Catch()
export class OidcExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('OidcError');

  catch(exception: unknown, host: ArgumentsHost): void {
    sendJsonError(host.switchToHttp().getResponse<Response>(), exception, this.logger);
  }
}

/**
 * Browser routes (login, callback): redirect to `OIDC_LOGIN_ERROR_URL?error=<code>` when configured,
 * otherwise the JSON error.
 */
@Catch()
export class BrowserErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('OidcError');

  constructor(
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    private readonly cookies: SessionCookieService,
    private readonly audit: OidcAudit,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const { status, body } = toErrorBody(exception, this.logger);
    this.audit.record({ event: 'login', outcome: 'failure', error: body.error }, callerOf(host.switchToHttp().getRequest<Request>()));
    res.setHeader('Cache-Control', 'no-store');
    this.cookies.clearLoginTransaction(host.switchToHttp().getRequest<Request>(), res);
    if (this.options.loginErrorUrl) {
      const target = new URL(this.options.loginErrorUrl);
      target.searchParams.set('error', body.error);
      res.redirect(302, target.href);
      return;
    }
    res.status(status).json(body);
  }
}
