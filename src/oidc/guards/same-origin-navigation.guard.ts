import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { OidcError } from '../errors/oidc-error';
import { OidcAudit } from '../observability/audit.service';
import { callerOf } from '../observability/request-context';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { appOrigins } from '../util/callback-path';

/** `Sec-Fetch-Site` values that mean another site (or a sibling subdomain) made the browser ask. */
const FOREIGN_SITES = new Set(['cross-site', 'same-site']);

/**
 * On a browser navigation (GET) that starts something on behalf of the signed-in user — linking an
 * identity: refuses it (403 `csrf_rejected`, before anything runs) when the browser says another site
 * started it (`Sec-Fetch-Site: cross-site`, or `same-site`: a sibling subdomain is not this app either),
 * or when it sends an `Origin` that is not the app's. `same-origin` and `none` (typed, bookmarked) pass,
 * and so do clients that send neither header, as with `SameOriginGuard`.
 */
@Injectable()
export class SameOriginNavigationGuard implements CanActivate {
  private readonly origins: ReadonlySet<string>;

  constructor(
    @Inject(OIDC_MODULE_OPTIONS) options: OidcModuleOptions,
    private readonly audit: OidcAudit,
  ) {
    this.origins = new Set(appOrigins(options.providers));
  }

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request>();
    const origin = req.headers.origin;
    const fetchSite = req.headers['sec-fetch-site'];
    const foreign = (typeof fetchSite === 'string' && FOREIGN_SITES.has(fetchSite.toLowerCase())) || (origin !== undefined && !this.origins.has(origin.toLowerCase()));
    if (foreign) {
      this.audit.record({ event: 'csrf_refused', error: 'csrf_rejected', route: `${context.getClass().name}.${context.getHandler().name}` }, callerOf(context.switchToHttp().getRequest()));
      throw new OidcError('csrf_rejected', 'This action must be started from this site', { origin: origin?.slice(0, 200), fetchSite });
    }
    return true;
  }
}
