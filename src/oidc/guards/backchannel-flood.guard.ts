import { type CanActivate, type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { OidcError } from '../errors/oidc-error';
import { OidcAudit } from '../observability/audit.service';
import { callerOf } from '../observability/request-context';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { RejectionCounterStore } from '../stores/rejection-counter.store';

/**
 * The back-channel route's rate limit: a client whose logout requests were rejected more than
 * `OIDC_BACKCHANNEL_RATE_LIMIT` times in the window gets 429 with `Retry-After` (retryable) until the
 * window ends. Valid logout tokens never count, so a mass logout by the OP is never throttled.
 */
@Injectable()
export class BackchannelFloodGuard implements CanActivate {
  constructor(
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    private readonly rejections: RejectionCounterStore,
    private readonly audit: OidcAudit,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const retryAfter = await this.rejections.retryAfter(http.getRequest<Request>().ip, this.options.backchannelRateLimit);
    if (retryAfter === 0) return true;
    http.getResponse<Response>().setHeader('Retry-After', String(retryAfter));
    this.audit.record({ event: 'rate_limited', route: `${context.getClass().name}.${context.getHandler().name}` }, callerOf(context.switchToHttp().getRequest()));
    throw new OidcError('too_many_requests', `Too many rejected logout requests; retry in ${retryAfter} s`);
  }
}
