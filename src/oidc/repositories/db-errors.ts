import { QueryFailedError } from 'typeorm';
import { OidcError } from '../errors/oidc-error';

/** The name of the unique constraint a write violated, if that is why it failed. */
export function uniqueViolation(error: unknown): string | undefined {
  if (!(error instanceof QueryFailedError)) return undefined;
  const driverError = error.driverError as { code?: string; constraint?: string };
  return driverError.code === '23505' ? (driverError.constraint ?? 'unknown') : undefined;
}

/**
 * The 409 for a write that UNIQUE(issuer, subject) or UNIQUE(user_id, issuer) refused, if that is why
 * it failed: the identity belongs to an account already, or the account has another identity of that
 * OpenID Provider.
 */
export function identityConflict(error: unknown): OidcError | undefined {
  const constraint = uniqueViolation(error);
  if (constraint === 'user_identities_issuer_subject_key') {
    return new OidcError('identity_conflict', 'This OpenID identity is already linked to an account');
  }
  if (constraint === 'user_identities_user_issuer_key') {
    return new OidcError('identity_conflict', 'This account is already linked to another identity of this OpenID Provider');
  }
  return undefined;
}
