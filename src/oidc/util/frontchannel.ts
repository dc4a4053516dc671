/**
 * Front-Channel Logout 1.0: the query of the logout URI an OP loads in an iframe, and the headers of
 * the (empty) page answered to it.
 */

/** Longest `sid` accepted: OPs use short random ids (oidc-provider 21 characters, Keycloak a UUID). */
export const MAX_FRONTCHANNEL_SID_LENGTH = 255;
/** Visible ASCII: a sid is an opaque string the OP put into the ID token (OIDC Front-Channel Logout 1.0, section 3). */
const SID = new RegExp(`^[\\x21-\\x7e]{1,${MAX_FRONTCHANNEL_SID_LENGTH}}$`);

/** Why a front-channel logout request was refused: a bounded set (metric label). */
export type FrontchannelRejection = 'iss_missing' | 'iss_mismatch' | 'sid_missing' | 'sid_invalid' | 'parameter_repeated';

export type FrontchannelParams = { ok: true; sid: string } | { ok: false; reason: FrontchannelRejection; message: string };

/**
 * Checks `iss` (exactly the provider's issuer) and `sid` (present, at most 255 visible ASCII
 * characters), each given once. Anything else in the query is ignored.
 */
export function parseFrontchannelParams(query: Record<string, unknown>, expectedIssuer: string): FrontchannelParams {
  const { iss, sid } = query;
  if (Array.isArray(iss) || Array.isArray(sid)) return { ok: false, reason: 'parameter_repeated', message: 'iss and sid must be given at most once' };
  if (iss === undefined || iss === '') return { ok: false, reason: 'iss_missing', message: 'iss is required' };
  if (iss !== expectedIssuer) return { ok: false, reason: 'iss_mismatch', message: "iss is not this provider's issuer" };
  if (sid === undefined || sid === '') return { ok: false, reason: 'sid_missing', message: 'sid is required' };
  if (typeof sid !== 'string' || !SID.test(sid)) {
    return { ok: false, reason: 'sid_invalid', message: `sid must be 1-${MAX_FRONTCHANNEL_SID_LENGTH} visible ASCII characters` };
  }
  return { ok: true, sid };
}

/** Every answer of the route before it knows the OP: nothing loads, nobody may frame it. */
export const FRONTCHANNEL_DEFAULT_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The answer to a front-channel logout: an empty page that only the OP's own pages (its issuer's origin) may frame. */
export function frontchannelCsp(issuer: string): string {
  return `default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors ${new URL(issuer).origin}`;
}
