import { escapeHtml, renderPage } from './layout';

/**
 * What a failed sign-in (OIDC_LOGIN_ERROR_URL?error=<code>) means, in words. Only these codes are
 * ever shown back; anything else in the query gets the generic text and is not reflected.
 */
const LOGIN_ERRORS: Record<string, { title: string; text: string }> = {
  access_denied: { title: 'Sign-in cancelled', text: 'You cancelled the sign-in at the provider, or it refused it. Nothing was changed here.' },
  login_session_missing: {
    title: 'Sign-in expired',
    text: 'This sign-in could not be matched to this browser: it took longer than 10 minutes, was finished in another tab, or cookies are blocked. Start again.',
  },
  invalid_state: { title: 'Sign-in expired', text: 'This sign-in expired or was already used. Start again.' },
  invalid_return_to: { title: 'Sign-in refused', text: 'The page to come back to after signing in is not allowed. Start again from the home page.' },
  provider_error: { title: 'The provider reported an error', text: 'The identity provider could not complete the sign-in. Try again; if it keeps happening, contact support.' },
  code_exchange_failed: { title: 'Sign-in could not be completed', text: 'The app could not complete the sign-in with the identity provider. Try again.' },
  provider_unavailable: { title: 'Provider unreachable', text: 'The identity provider cannot be reached right now. Try again in a moment.' },
  service_unavailable: { title: 'Temporarily unavailable', text: 'A service this app depends on is unavailable right now. Try again in a moment.' },
  identity_not_linked: { title: 'No account for this identity', text: 'Your identity is not linked to an account here, and this site does not create accounts on sign-in.' },
  email_in_use: { title: 'Email already in use', text: 'An account with your email address already exists here, so no new account was created for this identity.' },
  too_many_attempts: { title: 'Too many attempts', text: 'There were too many sign-in attempts for this identity. Wait 15 minutes and try again.' },
  op_session_ended: { title: 'Signed out at the provider', text: 'You were signed out at the identity provider while signing in here. Sign in again.' },
  identity_conflict: {
    title: 'Identity not linked',
    text: 'That identity already belongs to another account here, or your account already has an identity of that provider. Nothing was changed.',
  },
  unauthenticated: { title: 'Not signed in', text: 'Linking an identity needs you signed in here, in this browser, from start to end. Sign in and try again.' },
  csrf_rejected: { title: 'Request refused', text: 'This action must be started from this site. Nothing was changed.' },
  acr_not_satisfied: { title: 'Stronger sign-in needed', text: 'The provider did not sign you in at the level this action needs. Try again.' },
  invalid_request: { title: 'Sign-in refused', text: 'The sign-in request was not understood. Start again from the home page.' },
  internal_error: { title: 'Something went wrong', text: 'The sign-in failed because of an error in this app. Try again.' },
};

const UNKNOWN = { title: 'Sign-in failed', text: 'Something went wrong while signing in. Try again.' };

export function loginErrorPage(nonce: string, code: unknown): string {
  const known = typeof code === 'string' && Object.hasOwn(LOGIN_ERRORS, code) ? code : undefined;
  const { title, text } = known ? LOGIN_ERRORS[known] : UNKNOWN;
  const body = `
<section class="card" id="login-error">
  <h1>${escapeHtml(title)}</h1>
  <p>${escapeHtml(text)}</p>
  ${known ? `<p class="muted">Error code: <code id="error-code">${escapeHtml(known)}</code></p>` : ''}
  <div class="actions"><a class="button" href="/auth/oidc/login?return_to=%2F">Try again</a><a class="button secondary" href="/">Home</a></div>
</section>`;
  return renderPage(nonce, title, body);
}
