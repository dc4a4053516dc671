import { type ExecutionContext, Injectable, Optional } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { Request, Response } from 'express';
import passport from 'passport';
import { OidcError } from '../errors/oidc-error';
import { isDependencyDown } from '../errors/dependency-down';
import { IdpClientService } from '../services/idp-client.service';
import type { AuthenticatedSession } from '../services/session.service';
import { stepUpLoginUrl } from '../util/step-up';
import { AUTHENTICATION_REQUIREMENTS, type AuthenticationRequirements, mergeRequirements } from './require-authentication.decorator';
import { SESSION_STRATEGY, SessionStrategy } from './session.strategy';

/** Passport's registry of strategies (where `PassportStrategy` registered `SessionStrategy`). */
const registered = (): SessionStrategy | undefined =>
  (passport as unknown as { _strategy(name: string): SessionStrategy | undefined })._strategy(SESSION_STRATEGY);

/**
 * Requires a live session (cookie or Bearer). Sets `req.user` to the `AuthenticatedSession`. Usable on
 * the host's own routes too: its errors are HttpExceptions (401, or 503 when Postgres or the state
 * store is unreachable), and an authenticated response is marked `Cache-Control: no-store`, since it
 * carries the user's data.
 *
 * The strategy is registered with passport (`@nestjs/passport`) as before, but the guard calls its
 * `validate` directly instead of going through `passport.authenticate` on every request: that builds
 * a middleware, a strategy clone and several closures per request for a strategy that has no
 * redirects, no challenges and no login session. The outcome is the same: `handleRequest(error, user
 * or false)` decides, and `req.user` is set to what it returns.
 */
@Injectable()
export class SessionGuard extends AuthGuard(SESSION_STRATEGY) {
  /**
   * This app's own strategy instance. Passport's registry is process-wide: with two Nest apps in one
   * process (tests, workers) it holds the last one registered, whose database may be closed.
   */
  constructor(
    @Optional() private readonly ownStrategy?: SessionStrategy,
    @Optional() private readonly reflector?: Reflector,
    @Optional() private readonly idp?: IdpClientService,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const res = context.switchToHttp().getResponse<Response>();
    // The module's own routes have these already (`startModuleResponse`); a host's route may not, or may
    // have set a cacheable Cache-Control, which this replaces.
    if (res.getHeader('cache-control') !== 'no-store' || res.getHeader('pragma') !== 'no-cache') {
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Pragma', 'no-cache');
    }
    const strategy = this.ownStrategy ?? registered();
    if (!strategy) {
      const allowed = (await super.canActivate(context)) as boolean;
      this.checkRequirements(context, context.switchToHttp().getRequest<Request>().user as AuthenticatedSession);
      return allowed;
    }
    const req = context.switchToHttp().getRequest<Request>();
    let user: Express.User | false = false;
    let error: unknown;
    try {
      user = (await strategy.validate(req)) ?? false;
    } catch (e) {
      error = e;
    }
    req.user = this.handleRequest(error, user);
    this.checkRequirements(context, req.user as AuthenticatedSession);
    return true;
  }

  /** `@RequireAuthentication`: the session's acr and auth_time must meet the route's requirements. */
  private checkRequirements(context: ExecutionContext, { session }: AuthenticatedSession): void {
    const wanted = this.requirementsOf(context);
    if (!wanted) return;
    const provider = this.idp?.forIssuer(session.issuer)?.id;
    const providerOk = !wanted.providers || (provider !== undefined && wanted.providers.includes(provider));
    const acrOk = providerOk && (!wanted.requireAcr || (session.acr !== null && wanted.requireAcr.includes(session.acr)));
    const tolerance = (this.idp?.clockToleranceSec ?? 0) * 1000;
    const ageOk = wanted.maxAge === undefined || (session.authTime !== null && Date.now() - session.authTime.getTime() <= wanted.maxAge * 1000 + tolerance);
    if (acrOk && ageOk) return;
    const res = context.switchToHttp().getResponse<Response>();
    const challenge = ['Bearer error="insufficient_user_authentication"'];
    if (wanted.requireAcr) challenge.push(`acr_values="${wanted.requireAcr.join(' ')}"`);
    if (wanted.maxAge !== undefined) challenge.push(`max_age=${wanted.maxAge}`);
    res.setHeader('WWW-Authenticate', challenge.join(', '));
    throw new OidcError(
      'step_up_required',
      acrOk ? 'This action needs a recent sign-in: sign in again' : 'This action needs a stronger sign-in: sign in again with the required method',
      { acrMissing: !acrOk, tooOld: !ageOk, providerOk },
      {
        stepUp: {
          acrValues: wanted.requireAcr ?? null,
          maxAge: wanted.maxAge ?? null,
          providers: wanted.providers ?? null,
          loginUrl: this.stepUpLoginUrl(providerOk ? provider : wanted.providers?.[0], wanted),
        },
      },
    );
  }

  /**
   * A route's requirements (its method's and its class's, merged), read once per route: per class,
   * then per handler (a subclass inherits its parent's handlers but may declare other requirements).
   */
  private readonly requirements = new WeakMap<object, WeakMap<object, { wanted: AuthenticationRequirements | undefined }>>();

  private requirementsOf(context: ExecutionContext): AuthenticationRequirements | undefined {
    const handler = context.getHandler();
    const controller = context.getClass();
    let perClass = this.requirements.get(controller);
    if (!perClass) this.requirements.set(controller, (perClass = new WeakMap()));
    let known = perClass.get(handler);
    if (!known) {
      const declared = [handler, controller]
        .map((target) => this.reflector?.get<AuthenticationRequirements | undefined>(AUTHENTICATION_REQUIREMENTS, target))
        .filter((r): r is AuthenticationRequirements => r !== undefined);
      known = { wanted: mergeRequirements(declared) };
      perClass.set(handler, known);
    }
    return known.wanted;
  }

  /** A login at the session's own provider that asks the OP for what the route requires. */
  private stepUpLoginUrl(providerId: string | undefined, wanted: AuthenticationRequirements): string | null {
    const provider = providerId === undefined ? undefined : this.idp?.find(providerId)?.options;
    return provider ? stepUpLoginUrl(provider, wanted) : null;
  }

  override handleRequest<T>(error: unknown, user: T | false): T {
    if (error) {
      if (!(error instanceof OidcError) && isDependencyDown(error)) {
        throw new OidcError('service_unavailable', 'A backing service is unavailable; retry later');
      }
      throw error;
    }
    if (!user) throw new OidcError('unauthenticated', 'No valid session: sign in again');
    return user;
  }
}
