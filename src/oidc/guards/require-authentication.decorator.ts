import { SetMetadata } from '@nestjs/common';

/** What a route asks of how (and how recently) the user authenticated at the OP. */
export interface AuthenticationRequirements {
  /** The session's `acr` must be one of these (exact match). */
  requireAcr?: string[];
  /** The user must have authenticated at the OP at most this many seconds ago (the session's `auth_time`, give or take the clock tolerance). */
  maxAge?: number;
  /**
   * The session must come from one of these providers (ids). acr values are each OP's own vocabulary:
   * name the providers whose `acr` a `requireAcr` means.
   */
  providers?: string[];
}

export const AUTHENTICATION_REQUIREMENTS = 'oidc:authentication-requirements';

/**
 * Step-up on a route guarded by `SessionGuard`: a live session whose `acr` or `auth_time` does not meet
 * these gets 401 `step_up_required`, with `stepUp.loginUrl` (a login at the session's provider with
 * `acr_values`, `max_age` and `prompt=login`; add `return_to`) and an RFC 9470 `WWW-Authenticate`
 * challenge (`insufficient_user_authentication`, `acr_values`, `max_age`).
 *
 *     @UseGuards(SessionGuard)
 *     @RequireAuthentication({ requireAcr: ['urn:example:mfa'], maxAge: 300 })
 */
export const RequireAuthentication = (requirements: AuthenticationRequirements) => {
  if (requirements.requireAcr !== undefined && (requirements.requireAcr.length === 0 || requirements.requireAcr.some((v) => !/^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/.test(v)))) {
    throw new Error('RequireAuthentication: requireAcr must be a non-empty list of acr values (printable, no spaces or quotes)');
  }
  if (requirements.maxAge !== undefined && (!Number.isInteger(requirements.maxAge) || requirements.maxAge < 0)) {
    throw new Error('RequireAuthentication: maxAge must be a whole number of seconds');
  }
  if (requirements.providers !== undefined && requirements.providers.length === 0) {
    throw new Error('RequireAuthentication: providers must name at least one provider id');
  }
  return SetMetadata(AUTHENTICATION_REQUIREMENTS, requirements);
};

/** A class and a method requirement both apply: acr values and providers in both lists, the smaller maxAge. */
export function mergeRequirements(all: AuthenticationRequirements[]): AuthenticationRequirements | undefined {
  if (all.length === 0) return undefined;
  const intersect = (a?: string[], b?: string[]) => (a && b ? a.filter((v) => b.includes(v)) : (a ?? b));
  return all.reduce((merged, next) => ({
    requireAcr: intersect(merged.requireAcr, next.requireAcr),
    providers: intersect(merged.providers, next.providers),
    maxAge: merged.maxAge === undefined ? next.maxAge : next.maxAge === undefined ? merged.maxAge : Math.min(merged.maxAge, next.maxAge),
  }));
}
