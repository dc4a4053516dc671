import { Logger } from '@nestjs/common';
import cookieParser from 'cookie-parser';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { json, urlencoded } from 'express';
import { sendBackchannelError, sendJsonError } from '../errors/oidc-exception.filter';

/** Request bodies are small on the module's routes; anything larger is refused before a controller runs. */
export const MODULE_BODY_LIMIT = '32kb';

type ErrorWriter = (res: Response, exception: unknown, logger: Logger) => void;

/**
 * What the module's own routes need before a controller runs, applied to its controllers only (never
 * app-wide): cookie and body parsing with a size limit, `Cache-Control: no-store` (every module
 * response carries session, user or login data), and the module's error shape for a body that cannot
 * be parsed. A body the host already parsed is left alone.
 */
function moduleMiddleware(parsers: RequestHandler[], writeError: ErrorWriter, logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Pragma', 'no-cache');
    const run = (index: number): void => {
      if (index === parsers.length) return next();
      parsers[index](req, res, (error?: unknown) => (error ? writeError(res, error, logger) : run(index + 1)));
    };
    run(0);
  };
}

/** Login, callback, bind, logout and session routes: JSON bodies and cookies. */
export const apiRouteMiddleware = moduleMiddleware(
  [cookieParser(), json({ limit: MODULE_BODY_LIMIT })],
  sendJsonError,
  new Logger('OidcError'),
);

/** The back-channel logout route: a form body from the OP, errors in the spec's shape. */
export const backchannelRouteMiddleware = moduleMiddleware(
  [urlencoded({ extended: false, limit: MODULE_BODY_LIMIT })],
  sendBackchannelError,
  new Logger('BackchannelLogout'),
);
