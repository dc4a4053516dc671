import { AsyncLocalStorage } from 'node:async_hooks';

/** Who is calling, for the audit trail: set by the module's middleware for the rest of the request. */
export interface RequestContext {
  /** Client IP as Express resolves it (`TRUST_PROXY`). */
  clientIp?: string;
  /** Truncated user agent. */
  userAgent?: string;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();
