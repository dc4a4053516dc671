import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable, Logger, type NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { json } from 'express';
import { sendJsonError } from '../errors/oidc-exception.filter';
import { OidcMetrics } from '../observability/oidc-metrics.service';
import { FRONTCHANNEL_DEFAULT_CSP } from '../util/frontchannel';

/** Request bodies are small on the module's routes; anything larger is refused before a controller runs. */
export const MODULE_BODY_LIMIT = 32 * 1024;

/**
 * What the module's own routes need before a controller runs, applied to its controllers only (never
 * app-wide): body parsing with a size limit (cookies are parsed when first read: `cookieValue`),
 * `Cache-Control: no-store` (every module response carries session, user or login data), the module's
 * error shape for a body that cannot be parsed, and the request's duration metric. A body the host
 * already parsed is left alone.
 */
abstract class ModuleHttpMiddleware implements NestMiddleware {
  /** The body parser of these routes, if they take a body. */
  protected abstract readonly parser: RequestHandler | undefined;

  constructor(protected readonly metrics: OidcMetrics) {}

  protected abstract writeError(res: Response, error: unknown): void;

  use(req: Request, res: Response, next: NextFunction): void {
    startModuleResponse(this.metrics, res, () => ({ method: req.method, route: routeOf(req) }));
    // A request without a body (most: GETs, Bearer lookups) skips the parser, as the parser itself would
    // after its own checks (measured: ≈ 7 µs of a session lookup).
    if (!this.parser || !hasBody(req)) return next();
    this.parser(req, res, (error?: unknown) => (error ? this.writeError(res, error) : next()));
  }
}

/** Login, callback, bind, logout and session routes: JSON bodies. */
@Injectable()
export class ApiRouteMiddleware extends ModuleHttpMiddleware {
  protected readonly parser = json({ limit: MODULE_BODY_LIMIT });
  private readonly logger = new Logger('OidcError');

  // Declared here so that Nest sees the parameter types (the abstract base is not decorated).
  constructor(metrics: OidcMetrics) {
    super(metrics);
  }

  protected writeError(res: Response, error: unknown): void {
    sendJsonError(res, error, this.logger);
  }
}

/**
 * The front-channel logout route, loaded in an iframe of the OP's logout page: no body (a GET), JSON
 * errors, and headers that let nobody frame an answer and load nothing into it until the controller
 * names the OP (`frame-ancestors` = the issuer's origin).
 */
@Injectable()
export class FrontchannelRouteMiddleware extends ModuleHttpMiddleware {
  protected readonly parser = undefined;
  private readonly logger = new Logger('OidcError');

  constructor(metrics: OidcMetrics) {
    super(metrics);
  }

  override use(req: Request, res: Response, next: NextFunction): void {
    res.setHeader('Content-Security-Policy', FRONTCHANNEL_DEFAULT_CSP);
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    super.use(req, res, next);
  }

  protected writeError(res: Response, error: unknown): void {
    sendJsonError(res, error, this.logger);
  }
}

/**
 * What every answer of a module route starts with: its duration metric (labels read when it is sent:
 * the route is known only once Express has matched it) and `Cache-Control: no-store`.
 */
export function startModuleResponse(metrics: OidcMetrics, res: ServerResponse, labels: () => { method: string; route: string }): void {
  // `performance.now()` and one `observe` instead of prom-client's `startTimer` (an `hrtime` pair and a
  // merge of label objects); `on`, not `once`: a response finishes once.
  const started = performance.now();
  res.on('finish', () => {
    const { method, route } = labels();
    metrics.requestDuration.observe({ method, route, status: res.statusCode }, (performance.now() - started) / 1000);
  });
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
}

/** Whether a request carries a body, as body-parser decides it (type-is `hasBody`). */
export function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || !Number.isNaN(Number(req.headers['content-length']));
}

/** The route pattern (bounded label), not the path with its ids. */
export function routeOf(req: Request): string {
  const route = (req as Request & { route?: { path?: string } }).route?.path;
  return route ? `${req.baseUrl}${route}` : 'unmatched';
}
