import { OidcError } from '../errors/oidc-error';
import type { OidcProviderOptions } from '../oidc.options';
import { callbackBase } from './callback-path';

/** A login at this provider that asks the OP for a fresh (and, with `acrValues`, stronger) authentication. */
export function stepUpLoginUrl(provider: OidcProviderOptions, wanted: { maxAge?: number; requireAcr?: string[] }, returnTo?: string): string {
  const url = new URL(callbackBase(provider.redirectUri).replace(/\/callback$/, '/login'));
  url.searchParams.set('provider', provider.id);
  url.searchParams.set('prompt', 'login');
  if (wanted.maxAge !== undefined) url.searchParams.set('max_age', String(wanted.maxAge));
  if (wanted.requireAcr) url.searchParams.set('acr_values', wanted.requireAcr.join(' '));
  if (returnTo !== undefined) url.searchParams.set('return_to', returnTo);
  return url.href;
}

/**
 * Linking and unlinking identities change who can sign in to the account: the user must have
 * authenticated at the OP recently (the session's `auth_time` within `maxAgeMs`, give or take the clock
 * tolerance), not merely hold a session (an unattended computer, a stolen cookie).
 * @throws OidcError `step_up_required` (401) with `stepUp.loginUrl`: a fresh sign-in at the session's provider
 */
export function assertRecentAuthentication(
  session: { authTime: Date | null },
  provider: OidcProviderOptions | undefined,
  limits: { maxAgeMs: number; clockToleranceSec: number },
  returnTo?: string,
): void {
  const age = session.authTime === null ? Infinity : Date.now() - session.authTime.getTime();
  if (age <= limits.maxAgeMs + limits.clockToleranceSec * 1000) return;
  throw new OidcError(
    'step_up_required',
    'Changing how this account signs in needs a recent sign-in: sign in again first',
    { reason: 'identity_change_needs_recent_auth' },
    { stepUp: { acrValues: null, maxAge: 0, providers: null, loginUrl: provider ? stepUpLoginUrl(provider, { maxAge: 0 }, returnTo) : null } },
  );
}
