import cookieParser from 'cookie-parser';
import type { Request } from 'express';

const parseCookies = cookieParser();

/**
 * The request's cookies, parsed on first use (cookie-parser) unless a parser already ran: most module
 * requests (a Bearer session lookup, a back-channel logout) never read one.
 */
function requestCookies(req: Request): Record<string, unknown> {
  if (req.cookies === undefined) parseCookies(req, undefined as never, () => undefined);
  return (req.cookies as Record<string, unknown> | undefined) ?? {};
}

/** One cookie's value, if the request carries it as a string. */
export function cookieValue(req: Request, name: string): string | undefined {
  const value = requestCookies(req)[name];
  return typeof value === 'string' ? value : undefined;
}
