import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { OidcError } from '../errors/oidc-error';
import { OidcAudit } from '../observability/audit.service';
import { callerOf } from '../observability/request-context';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { appOrigins } from '../util/callback-path';

/**
 * On every state-changing route a browser calls: refuses cross-site requests (403 `csrf_rejected`) and
 * any body that is not JSON (415), before anything runs. A cross-site `<form>` or a no-preflight
 * `fetch` can send form or text/plain bodies but never `application/json`, and a browser always
 * sends `Origin` on such requests. Clients that send no `Origin` (servers with a Bearer token) pass.
 */
@Injectable()
export class SameOriginGuard implements CanActivate {
  private readonly origins: ReadonlySet<string>;

  constructor(
    @Inject(OIDC_MODULE_OPTIONS) options: OidcModuleOptions,
    private readonly audit: OidcAudit,
  ) {
    this.origins = new Set([...appOrigins(options.providers), ...options.allowedOrigins]);
  }

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request>();
    const origin = req.headers.origin;
    // The Origin decides when the browser sends one (an allowed partner origin is cross-site too);
    // Sec-Fetch-Site only when it does not.
    const crossSite = origin !== undefined ? !this.origins.has(origin.toLowerCase()) : req.headers['sec-fetch-site'] === 'cross-site';
    if (crossSite) {
      this.audit.record({ event: 'csrf_refused', error: 'csrf_rejected', route: `${context.getClass().name}.${context.getHandler().name}` }, callerOf(context.switchToHttp().getRequest()));
      throw new OidcError('csrf_rejected', 'Cross-site requests are not accepted on this route', {
        origin: origin?.slice(0, 200),
        fetchSite: req.headers['sec-fetch-site'],
      });
    }
    const hasBody = req.headers['content-type'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (hasBody && !req.is('application/json')) {
      this.audit.record({ event: 'csrf_refused', error: 'unsupported_media_type', route: `${context.getClass().name}.${context.getHandler().name}` }, callerOf(context.switchToHttp().getRequest()));
      throw new OidcError('unsupported_media_type', 'The request body must be application/json');
    }
    return true;
  }
}
