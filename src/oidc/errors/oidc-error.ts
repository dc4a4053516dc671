import { HttpException } from '@nestjs/common';

/** Every error code `OidcModule` answers with, and its HTTP status. */
export const OIDC_ERROR_STATUS = {
  invalid_request: 400,
  invalid_return_to: 400,
  unknown_provider: 400,
  provider_mismatch: 400,
  invalid_login_parameter: 400,
  acr_not_satisfied: 403,
  step_up_required: 401,
  identity_not_found: 404,
  last_sign_in_method: 409,
  login_session_missing: 400,
  invalid_state: 400,
  access_denied: 403,
  provider_error: 400,
  code_exchange_failed: 400,
  provider_unavailable: 503,
  identity_not_linked: 403,
  email_in_use: 409,
  unauthenticated: 401,
  session_not_found: 404,
  bind_token_invalid: 410,
  invalid_credentials: 401,
  too_many_attempts: 429,
  too_many_requests: 429,
  identity_conflict: 409,
  bind_in_progress: 409,
  create_not_allowed: 403,
  email_not_verified: 403,
  invalid_logout_token: 400,
  logout_token_replayed: 400,
  csrf_rejected: 403,
  refresh_failed: 401,
  op_session_ended: 401,
  no_refresh_token: 401,
  unsupported_media_type: 415,
  service_unavailable: 503,
  internal_error: 500,
} as const;

export type OidcErrorCode = keyof typeof OIDC_ERROR_STATUS;

/**
 * A domain error. Thrown, never returned; the module's filters map it to a status and a body on its
 * own routes. It is an `HttpException` (body `{error, message}`) so that where it escapes onto a host
 * route (e.g. `SessionGuard` there), the host's own exception handling answers with the right status.
 * The message is shown to the client: it must never contain a token, a code or a password.
 */
export class OidcError extends HttpException {
  constructor(
    readonly code: OidcErrorCode,
    message: string,
    /** Extra fields for the log line (never shown to the client). */
    readonly logFields: Record<string, unknown> = {},
    /** Extra members of the response body (shown to the client: never a secret), e.g. `stepUp`. */
    readonly details?: Record<string, unknown>,
  ) {
    super({ error: code, message, ...details }, OIDC_ERROR_STATUS[code]);
    this.name = 'OidcError';
  }
}
