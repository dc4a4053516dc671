import type { IncomingMessage } from 'node:http';
import type { Request } from 'express';

/** Who is calling, for the audit trail: what a service that writes an audit line is handed by its controller, guard or filter. */
export interface RequestContext {
  /** Client IP as the host's `trust proxy` setting resolves it (`TRUST_PROXY`). */
  readonly clientIp?: string;
  /** Truncated user agent. */
  readonly userAgent?: string;
}

/**
 * The caller of a request, read from it when an audit line first asks: most requests (session
 * lookups) write none, and resolving `req.ip` (proxy-addr, per TRUST_PROXY) costs on every one.
 *
 * Passed explicitly rather than through `AsyncLocalStorage`: on Node 20 that hooks every promise of
 * the process once any request has used it (measured: ≈ 5 % of a back-channel logout and of a session
 * lookup).
 */
class CallerContext implements RequestContext {
  // Native private fields: a caller that ends up in a serialized value (a host's own logging of what
  // `@AccessToken()` hands its pipe) does not drag the request along.
  #ip?: { value: string | undefined };
  #agent?: { value: string | undefined };
  readonly #req: IncomingMessage;
  readonly #resolveIp: () => string | undefined;

  constructor(req: IncomingMessage, resolveIp: () => string | undefined) {
    this.#req = req;
    this.#resolveIp = resolveIp;
  }

  get clientIp(): string | undefined {
    return (this.#ip ??= { value: this.#resolveIp() }).value;
  }

  get userAgent(): string | undefined {
    return (this.#agent ??= { value: this.#req.headers['user-agent']?.slice(0, 200) }).value;
  }
}

/**
 * The request's caller. Cheap to make (nothing is read until an audit line asks), so a request that
 * writes several lines may make several: each reads the request once.
 */
export function callerOf(req: Request): RequestContext;
/** A request outside Express (the back-channel direct path), with its client IP resolver. */
export function callerOf(req: IncomingMessage, clientIp: () => string | undefined): RequestContext;
export function callerOf(req: IncomingMessage, clientIp = () => (req as Request).ip): RequestContext {
  return new CallerContext(req, clientIp);
}
