/** Injection tokens of the seams a host app may replace, and their contracts. */

export const OIDC_ACCOUNT_VERIFIER = Symbol('OIDC_ACCOUNT_VERIFIER');
export const OIDC_AFTER_LOGIN = Symbol('OIDC_AFTER_LOGIN');

/**
 * Proves that the person binding an OIDC identity owns an existing local account.
 * Returns the local user id, or `null` for an unknown identifier or a wrong secret; both must look
 * the same to the caller (no account enumeration) and take about the same time.
 */
export interface AccountVerifier {
  verify(identifier: string, secret: string): Promise<{ userId: string } | null>;
}

export interface LoginEvent {
  userId: string;
  sessionId: string;
  issuer: string;
  subject: string;
  /** How the identity was resolved. */
  via: 'linked' | 'created' | 'bound';
}

/** Called after a session is issued. Must not throw for the login to succeed; errors are logged. */
export interface AfterLoginHook {
  afterLogin(event: LoginEvent): Promise<void>;
}
