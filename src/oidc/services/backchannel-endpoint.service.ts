import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpException, Inject, Injectable, Logger } from '@nestjs/common';
import { urlencoded } from 'express';
import typeIs from 'type-is';
import { OidcError } from '../errors/oidc-error';
import { backchannelStatus, sendBackchannelError } from '../errors/oidc-exception.filter';
import { MODULE_BODY_LIMIT, hasBody, startModuleResponse } from '../middleware/module-http.middleware';
import { OidcAudit } from '../observability/audit.service';
import { OidcMetrics } from '../observability/oidc-metrics.service';
import { callerOf, type RequestContext } from '../observability/request-context';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { RejectionCounterStore } from '../stores/rejection-counter.store';
import { BackchannelLogoutService } from './backchannel-logout.service';
import { IdpClientService } from './idp-client.service';
import { MAX_LOGOUT_TOKEN_LENGTH } from './logout-token-verifier.service';

/** The form's parameters at most, for body-parser and for the bodies read without it. */
const FORM_PARAMETER_LIMIT = 1000;

/** One back-channel request as the endpoint sees it, on either way in (see `BackchannelEndpoint`). */
export interface BackchannelRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** The provider id of `…/backchannel-logout/<id>`; undefined on the path without one. */
  providerId: string | undefined;
  /** The route pattern, the `route` label of the duration metric. */
  route: string;
  /** The audit label of a rate-limited request (the controller method that serves this path). */
  handler: 'logout' | 'providerLogout';
  /** The client IP as the host's `trust proxy` setting resolves it. */
  clientIp: () => string | undefined;
}

/**
 * The whole back-channel logout endpoint, written against Node's own request and response: the
 * rejection budget (429), the form body (bounded), the provider, the logout token, the revocation,
 * the spec's answers (200 empty, 400 final, 429/503 retryable), their log and audit lines and the
 * duration metric. Two ways in run this same code: the Nest route (`BackchannelLogoutController`) and
 * the direct path (`BackchannelDirectPath`), which serves the exact route paths ahead of the host's
 * HTTP stack.
 */
@Injectable()
export class BackchannelEndpoint {
  private readonly logger = new Logger('BackchannelLogout');
  private readonly parser = urlencoded({ extended: false, limit: MODULE_BODY_LIMIT, parameterLimit: FORM_PARAMETER_LIMIT });

  constructor(
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    private readonly backchannel: BackchannelLogoutService,
    private readonly idp: IdpClientService,
    private readonly rejections: RejectionCounterStore,
    private readonly audit: OidcAudit,
    private readonly metrics: OidcMetrics,
  ) {}

  /** Answers the request; never throws (every failure is an answer). */
  async serve(request: BackchannelRequest): Promise<void> {
    const { req, res, route } = request;
    const caller = callerOf(req, request.clientIp);
    try {
      startModuleResponse(this.metrics, res, () => ({ method: 'POST', route }));
      await this.checkBudget(request, caller);
      const plainForm = await this.readBody(req, res);
      const provider = request.providerId === undefined ? this.idp.defaultProvider() : this.idp.find(request.providerId);
      if (!provider) throw new OidcError('invalid_request', 'No OpenID Provider is configured for this back-channel logout endpoint');
      await this.backchannel.handle(logoutToken(req, plainForm), provider, caller);
      res.statusCode = 200;
      res.end();
    } catch (error) {
      await this.refuse(res, error, caller);
    }
  }

  /**
   * Answers a failure in the spec's shape. Final refusals of the module's own checks count against the
   * client's budget, before the answer: the client's next request must see the count, also with a store
   * whose next read may overtake a write still in flight (the Postgres state store's pool). Counting
   * never fails the answer (a store that cannot count lets the client through). Retryable answers do
   * not count.
   */
  async refuse(res: ServerResponse, error: unknown, caller: RequestContext): Promise<void> {
    if (this.answeredAlready(res, error)) return;
    if (backchannelStatus(error) === 400) await this.rejections.count(caller.clientIp, this.options.backchannelRateLimit);
    sendBackchannelError(res, error, this.logger, this.audit, caller);
  }

  /**
   * What the host's own guards, interceptors or pipes threw on the Nest route (`BackchannelErrorFilter`):
   * answered in the spec's shape, but never charged to the client's budget (the OP's own address must not
   * run out of it because of the host), and a timeout or server error of the host's is retryable (503):
   * the logout may not have been applied.
   */
  refuseForHost(res: ServerResponse, error: unknown, caller: RequestContext): void {
    if (this.answeredAlready(res, error)) return;
    const status = error instanceof HttpException ? error.getStatus() : 500;
    const retryable = status === 408 || status >= 500;
    sendBackchannelError(res, retryable ? new OidcError('service_unavailable', 'The logout could not be completed; retry later') : error, this.logger, this.audit, caller);
  }

  /** Nothing can be answered any more (answered already, or the client went away mid-answer): the connection is closed. */
  private answeredAlready(res: ServerResponse, error: unknown): boolean {
    if (!res.headersSent) return false;
    this.logger.error({ msg: 'bcl.failed_after_answer', name: (error as Error)?.name });
    res.destroy();
    return true;
  }

  /**
   * A client whose requests were refused more than `OIDC_BACKCHANNEL_RATE_LIMIT` times in the window
   * gets 429 with `Retry-After`, before its body is read or any signature checked. Valid logout tokens
   * never count, so a mass logout by the OP is never throttled.
   */
  private async checkBudget(request: BackchannelRequest, caller: RequestContext): Promise<void> {
    const retryAfter = await this.rejections.retryAfter(caller.clientIp, this.options.backchannelRateLimit);
    if (retryAfter === 0) return;
    request.res.setHeader('Retry-After', String(retryAfter));
    this.audit.record({ event: 'rate_limited', route: `BackchannelLogoutController.${request.handler}` }, caller);
    throw new OidcError('too_many_requests', `Too many rejected logout requests; retry in ${retryAfter} s`);
  }

  /**
   * Parses a form body (bounded), unless the host already parsed it. What an OP sends (a UTF-8 form
   * with its length, not compressed) is read here directly; anything else goes through body-parser
   * (compressed bodies, other charsets, chunked, oversized: its own errors). Returns whether the body was
   * read here (its content type is then known to be a form).
   */
  private async readBody(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if (!hasBody(req) || (req as ParsedRequest)._body) return false;
    if (!isPlainForm(req)) {
      await new Promise<void>((resolve, reject) => this.parser(req as never, res as never, (error?: unknown) => (error ? reject(error) : resolve())));
      return false;
    }
    let body: string;
    try {
      body = await readBodyText(req);
    } catch (error) {
      // The rest of a body that stopped coming is not waited for: the connection closes after the answer.
      if ((error as { type?: string }).type === 'request.timeout') res.setHeader('Connection', 'close');
      throw error;
    }
    (req as ParsedRequest).body = parseForm(body);
    (req as ParsedRequest)._body = true;
    return true;
  }
}

type ParsedRequest = IncomingMessage & { body?: Record<string, unknown>; _body?: boolean };

/** Whitespace as HTTP has it (space, tab: what type-is accepts), not `\s` (which also matches NBSP). */
const PLAIN_FORM_TYPE = /^application\/x-www-form-urlencoded[ \t]*(?:;[ \t]*charset[ \t]*=[ \t]*(?:utf-8|"utf-8")[ \t]*)?$/i;

/** A plain UTF-8 form body with its declared length within the limit (anything else: body-parser reads it). */
function isPlainForm(req: IncomingMessage): boolean {
  const { headers } = req;
  // A body something else already consumed: body-parser answers that (`stream.not.readable`).
  if (!req.readable || headers['transfer-encoding'] !== undefined) return false;
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  const type = headers['content-type'];
  if (type === undefined || !PLAIN_FORM_TYPE.test(type)) return false;
  const length = Number(headers['content-length']);
  return Number.isInteger(length) && length >= 0 && length <= MODULE_BODY_LIMIT;
}

/** How long a back-channel form may take to arrive once its headers have (an OP's is one packet). */
export const BODY_READ_TIMEOUT_MS = 10_000;

/**
 * The body, as Node's parser framed it by its Content-Length, decoded as UTF-8 without a byte order
 * mark (as body-parser's decoder; invalid sequences become U+FFFD); a client that goes away mid-body is
 * a 400 (as body-parser). Read from the stream's own events: an OP's body is one chunk, and an async
 * iterator over it cost ≈ 3 % of a logout. A body that has not arrived whole `timeoutMs` after the
 * read began is refused (a final 400): a client dripping it would otherwise hold the request until
 * Node's own `requestTimeout` (300 s by default, or never if the host turned it off).
 */
export function readBodyText(req: IncomingMessage, timeoutMs = BODY_READ_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    // Strings when something of the host's set an encoding on the request (then taken as they come).
    const chunks: Array<Buffer | string> = [];
    const onData = (chunk: Buffer | string) => chunks.push(chunk);
    const onEnd = () => {
      settle();
      try {
        // Strings go back to their bytes (in the encoding they were decoded with), then UTF-8 as any body.
        const bytes = typeof chunks[0] === 'string' ? Buffer.from(chunks.join(''), req.readableEncoding ?? 'utf8') : chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks as Buffer[]);
        const body = bytes.toString('utf8');
        resolve(body.charCodeAt(0) === 0xfeff ? body.slice(1) : body);
      } catch (error) {
        reject(error);
      }
    };
    const onAborted = () => {
      settle();
      reject(Object.assign(new Error('request aborted'), { status: 400, type: 'request.aborted' }));
    };
    const timer = setTimeout(() => {
      settle();
      reject(Object.assign(new Error('request body timeout'), { status: 408, type: 'request.timeout' }));
    }, timeoutMs).unref();
    const settle = () => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAborted);
      req.off('close', onAborted);
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onAborted);
    req.once('close', onAborted);
    // A request something paused before (host middleware) flows again: the body is read here.
    req.resume();
  });
}

const LONE_LOGOUT_TOKEN = /^logout_token=[A-Za-z0-9._-]+$/;

/**
 * A form as body-parser's urlencoded parser (no nesting) gives it: a repeated name becomes an array,
 * more than 1,000 parameters are refused (413). No prototype: a name like `__proto__` is only a name.
 */
function parseForm(body: string): Record<string, unknown> {
  const form: Record<string, unknown> = Object.create(null);
  if (body === '') return form;
  // What an OP sends: the one parameter, its value in JWT characters (nothing to decode).
  if (LONE_LOGOUT_TOKEN.test(body)) {
    form.logout_token = body.slice('logout_token='.length);
    return form;
  }
  let count = 1;
  for (let i = body.indexOf('&'); i !== -1; i = body.indexOf('&', i + 1)) {
    if (++count > FORM_PARAMETER_LIMIT) throw Object.assign(new Error('too many parameters'), { status: 413, type: 'parameters.too.many' });
  }
  for (const [name, value] of new URLSearchParams(body)) {
    const seen = form[name];
    if (seen === undefined) form[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else form[name] = [seen, value];
  }
  return form;
}

/** The form's `logout_token` (`plainForm`: read by `readBody` itself, its content type checked already). */
function logoutToken(req: IncomingMessage, plainForm: boolean): string {
  if (!plainForm && !typeIs(req, ['application/x-www-form-urlencoded'])) {
    throw new OidcError('invalid_request', 'The body must be application/x-www-form-urlencoded');
  }
  const token = (req as IncomingMessage & { body?: Record<string, unknown> }).body?.logout_token;
  if (typeof token !== 'string' || token === '') throw new OidcError('invalid_request', 'logout_token is missing');
  if (token.length > MAX_LOGOUT_TOKEN_LENGTH) throw new OidcError('invalid_request', 'logout_token is too long');
  return token;
}
