import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { OIDC_ERROR_STATUS, type OidcErrorCode } from '../errors/oidc-error';
import { BackchannelErrorDto, ErrorDto } from './session.dto';

/** Every code a documented `{error, message}` response may carry: the domain codes and the body-parser's 413. */
export type DocumentedErrorCode = OidcErrorCode | 'payload_too_large';

const DOCUMENTED_STATUS: Record<DocumentedErrorCode, number> = { ...OIDC_ERROR_STATUS, payload_too_large: 413 };

/** A realistic message per code, for the Swagger examples only (the real messages come from the thrower). */
const EXAMPLE_MESSAGES: Record<DocumentedErrorCode, string> = {
  invalid_request: 'token must be a bind token',
  invalid_return_to: 'return_to must be a relative path or an allowed host',
  unknown_provider: 'No OpenID Provider is configured with this id',
  provider_mismatch: 'This login response belongs to a login with another OpenID Provider; start again',
  invalid_login_parameter: 'max_age must be a whole number of seconds',
  acr_not_satisfied: 'The OpenID Provider did not authenticate you at the level asked for',
  step_up_required: 'This action needs a more recent or stronger sign-in',
  identity_not_found: 'No such linked identity of yours',
  last_sign_in_method: 'This is the account\'s only way to sign in; link another identity or set a password first',
  login_session_missing: 'No login in progress in this browser; start again',
  invalid_state: 'The login state is unknown, expired or was already used',
  access_denied: 'The sign-in was cancelled or refused at the OpenID Provider',
  provider_error: 'The OpenID Provider answered with an error',
  code_exchange_failed: 'The authorization code could not be exchanged',
  provider_unavailable: 'The OpenID Provider is unreachable; retry later',
  identity_not_linked: 'This identity is not linked to an account',
  email_in_use: 'A local account already uses this email; link it with its password instead',
  unauthenticated: 'No valid session: sign in again',
  session_not_found: 'No such live session of yours',
  bind_token_invalid: 'This bind link has expired or was already used; sign in again',
  invalid_credentials: 'Wrong account or password',
  too_many_attempts: 'Too many attempts; wait and try again',
  identity_conflict: 'This identity or account is already linked',
  bind_in_progress: 'This bind is being completed by another request',
  create_not_allowed: 'Creating accounts is disabled',
  email_not_verified: 'The OpenID Provider has not verified this email',
  invalid_logout_token: 'logout_token is invalid',
  logout_token_replayed: 'logout_token was already used',
  csrf_rejected: 'Cross-site request refused',
  refresh_failed: 'The session could not be refreshed at the OpenID Provider: sign in again',
  op_session_ended: 'The OpenID Provider session was ended: sign in again',
  too_many_requests: 'Too many requests; retry in 30 s',
  no_refresh_token: 'The session has no refresh token: sign in again',
  unsupported_media_type: 'The body must be application/json',
  service_unavailable: 'A backing service is unavailable; retry later',
  internal_error: 'Internal server error',
  payload_too_large: 'Request body is too large',
};

/**
 * Documents one error status of a route: the `{error, message}` schema, the listed codes in the
 * description, and one named example per code. A code whose status is not `status` is a programming
 * error and fails at startup, so a 503 can never be documented with a 401's example.
 */
export function ApiErrorResponse(status: number, codes: readonly DocumentedErrorCode[], description?: string): MethodDecorator & ClassDecorator {
  if (codes.length === 0) throw new Error(`ApiErrorResponse(${status}): at least one code`);
  for (const code of codes) {
    if (DOCUMENTED_STATUS[code] !== status) throw new Error(`ApiErrorResponse(${status}): ${code} is answered with ${DOCUMENTED_STATUS[code]}`);
  }
  const examples = Object.fromEntries(codes.map((code) => [code, { summary: code, value: { error: code, message: EXAMPLE_MESSAGES[code] } }]));
  return applyDecorators(ApiResponse({ status, type: ErrorDto, description: describe(codes, description), examples }));
}

/** The Back-Channel Logout 1.0 error body (`{error, error_description}`) of one status. */
export function ApiBackchannelErrorResponse(
  status: 400 | 429 | 500 | 503,
  description: string,
  errorDescription: string,
): MethodDecorator & ClassDecorator {
  const error = status === 400 ? 'invalid_request' : status === 503 || status === 429 ? 'temporarily_unavailable' : 'server_error';
  return applyDecorators(
    ApiResponse({ status, type: BackchannelErrorDto, description: describe([error], description), example: { error, error_description: errorDescription } }),
  );
}

function describe(codes: readonly string[], description?: string): string {
  return description ? `${codes.join(', ')}: ${description}` : codes.join(', ');
}
