import { type ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { InjectThrottlerOptions, InjectThrottlerStorage, ThrottlerGuard, type ThrottlerModuleOptions, type ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottlerLimitDetail } from '@nestjs/throttler/dist/throttler.guard.interface';
import { OidcError } from '../errors/oidc-error';
import { OidcAudit } from '../observability/audit.service';
import { callerOf } from '../observability/request-context';
import type { OidcModuleOptions } from '../oidc.options';

/**
 * Rate limits on the module's unauthenticated browser routes (login, callback, bind), per client
 * IP (IPv6: per /64) and route, counted in the state store so that every instance shares them. Over
 * the limit: 429 `too_many_requests` with `Retry-After`, logged and counted.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    private readonly audit: OidcAudit,
  ) {
    super(options, storage, reflector);
  }

  protected override async throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    // The handler, not the request path: paths are attacker-chosen (case, trailing slash) and would
    // make unbounded metric series.
    this.audit.record({ event: 'rate_limited', route: `${context.getClass().name}.${context.getHandler().name}` }, callerOf(context.switchToHttp().getRequest()));
    throw new OidcError('too_many_requests', `Too many requests; retry in ${detail.timeToBlockExpire} s`);
  }
}

/** The throttler options of the module's browser routes (the back-channel route has its own guard). */
export function rateLimitOptions(options: OidcModuleOptions): ThrottlerModuleOptions {
  const { limit, windowMs } = options.rateLimit;
  return { throttlers: [{ name: 'default', limit, ttl: windowMs }], skipIf: () => limit === 0 };
}
