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
export function assertRecentAuthentication(session: { authTime: Date | null }, provider: OidcProviderOptions | undefined, limits: RecentAuthLimits): void {
  if (authenticatedRecently(session, limits)) return;
  throw reauthenticationRequired(provider ? reauthenticationUrl(provider) : null);
}

/** 401 `step_up_required` for an identity change, with where to sign in again (null: the session's provider is gone). */
export function reauthenticationRequired(loginUrl: string | null): OidcError {
  return new OidcError(
    'step_up_required',
    'Changing how this account signs in needs a recent sign-in: sign in again first',
    { reason: 'identity_change_needs_recent_auth' },
    { stepUp: { acrValues: null, maxAge: 0, providers: null, loginUrl } },
  );
}

export interface RecentAuthLimits {
  maxAgeMs: number;
  clockToleranceSec: number;
}

/** Whether the session's user authenticated at the OP within `maxAgeMs` (give or take the tolerance). */
export function authenticatedRecently(session: { authTime: Date | null }, limits: RecentAuthLimits): boolean {
  return session.authTime !== null && Date.now() - session.authTime.getTime() <= limits.maxAgeMs + limits.clockToleranceSec * 1000;
}

/** A fresh sign-in (`prompt=login`, `max_age=0`) at this provider, coming back to `returnTo` when given. */
export function reauthenticationUrl(provider: OidcProviderOptions, returnTo?: string): string {
  return stepUpLoginUrl(provider, { maxAge: 0 }, returnTo);
}
