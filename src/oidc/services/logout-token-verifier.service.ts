import { Inject, Injectable } from '@nestjs/common';
import { isUtf8 } from 'node:buffer';
import { KeyObject } from 'node:crypto';
import { createVerifier, TokenError } from 'fast-jwt';
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify, type ProtectedHeaderParameters } from 'jose';
import { OidcError } from '../errors/oidc-error';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import type { ProviderClient } from './idp-client.service';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** Asymmetric algorithms only: never `none`, never HMAC (which would accept the OP's public key as a secret). */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const ACCEPTED_TYP = new Set(['logout+jwt', 'application/logout+jwt', 'jwt']);
export const MAX_LOGOUT_TOKEN_LENGTH = 16_384;
/** 9999-12-31T23:59:59Z: a later (or negative, or not finite) time cannot be stored, and no OP means it. */
const MAX_NUMERIC_DATE = 253_402_300_799;

function isNumericDate(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= MAX_NUMERIC_DATE;
}

export interface LogoutClaims {
  iss: string;
  sub?: string;
  sid?: string;
  jti: string;
  iat: number;
  /** Absent only with the pre-errata opt-in (`backchannelAllowMissingExp`). */
  exp?: number;
}

/** Algorithms fast-jwt verifies (it names EdDSA only by `EdDSA`); `Ed25519` goes through jose. */
const FAST_JWT_ALGORITHMS = new Set(ALGORITHMS.filter((alg) => alg !== 'Ed25519'));

type FastVerifier = (token: string) => JWTPayload;
/** A segment as RFC 7515 allows it: the base64url alphabet, no padding, no whitespace (as fast-jwt's decoder). */
const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * A header or payload segment (its alphabet checked) as the JSON object it encodes, or undefined: not
 * UTF-8 (RFC 7519 §7.2: a decoder would read invalid bytes as U+FFFD, and then match a session whose
 * sid holds that character), not JSON, or not an object.
 */
function decodeSegment(segment: string): Record<string, unknown> | undefined {
  const bytes = Buffer.from(segment, 'base64url');
  if (!isUtf8(bytes)) return undefined;
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** As jose: a shorter RSA key can be factored, and anyone could then sign logouts with it. */
const MIN_RSA_BITS = 2048;
/** Keys tried for a token that names none (or one the set repeats): a rotation has two or three. */
const MAX_CANDIDATE_KEYS = 4;
/** A key as jose's key set hands it out (a WebCrypto key). */
type SetKey = Awaited<ReturnType<ReturnType<typeof createRemoteJWKSet>>>;

/**
 * Verifies Back-Channel Logout 1.0 logout tokens (with errata set 1): the only place that does. The
 * OP's JWKS comes from discovery and is cached by jose's remote key set, which picks the key for the
 * token's `kid` and `alg` and refetches on an unknown `kid` at most once per cooldown. The signature
 * and the registered claims are then checked by fast-jwt (Node's `crypto.verify`, synchronous) with
 * that key: jose 6 verifies through WebCrypto on Node, about three times the CPU per token (measured:
 * ≈ 8,000 against ≈ 26,000 RS256 verifications per core), and the signature is the largest single
 * cost of a back-channel logout. `Ed25519` (the fully specified name, which fast-jwt does not know)
 * is verified by jose.
 */
@Injectable()
export class LogoutTokenVerifier {
  /** Per provider: its JWKS (jose's remote key set, cached, refetched on an unknown kid at most once per cooldown). */
  private readonly jwks = new Map<string, { uri: string; keys: ReturnType<typeof createRemoteJWKSet> }>();
  /**
   * One fast-jwt verifier per key the key set handed out (jose imports a key once per JWK and alg),
   * bound to that provider's issuer, client id and required claims. A key rotated out is collected
   * with the key set's entry.
   */
  private readonly verifiers = new WeakMap<SetKey, { provider: ProviderClient; verify: FastVerifier }>();

  constructor(@Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions) {}

  /** Verifies a logout token against this provider only: its keys, its issuer, its client id, its opt-ins. */
  async verify(token: string, provider: ProviderClient): Promise<LogoutClaims> {
    const segments = token.length > MAX_LOGOUT_TOKEN_LENGTH ? [] : token.split('.');
    if (segments.length !== 3) throw invalid('logout_token is not a compact JWS');
    // Header and payload, decoded once here, before anything is verified (fast-jwt decodes them again
    // when it verifies: the two decodes of a separate decoder were ≈ 2 % of a logout).
    if (!BASE64URL.test(segments[0])) throw invalid('logout_token header is malformed');
    if (!BASE64URL.test(segments[1])) throw invalid('logout_token payload is malformed');
    if (!BASE64URL.test(segments[2])) throw invalid('logout_token signature is invalid');
    const header = decodeSegment(segments[0]) as ProtectedHeaderParameters | undefined;
    if (!header) throw invalid('logout_token header is malformed');
    const unverified = decodeSegment(segments[1]) as JWTPayload | undefined;
    if (!unverified) throw invalid('logout_token payload is malformed');
    const typ = header.typ;
    if (typ !== undefined && (typeof typ !== 'string' || !ACCEPTED_TYP.has(typ.toLowerCase()))) {
      throw invalid('logout_token typ must be absent, logout+jwt or JWT');
    }

    const settings = provider.options;
    // A token of another provider (posted to the wrong endpoint) is refused for good (400), before its
    // key is looked up: an unknown kid would otherwise mean "retry later" (503). Nothing unverified is
    // trusted here: a matching iss still goes through the full signature and claim checks.
    if (unverified.iss !== settings.issuer) throw invalid('logout_token iss is not the issuer of this provider');
    const payload = await this.verifySignature(token, header, provider);
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.iat !== 'number') throw invalid('logout_token has no iat');
    if (!isNumericDate(payload.iat)) throw invalid('logout_token iat is not a time (seconds since 1970, up to year 9999)');
    if (payload.exp !== undefined && !isNumericDate(payload.exp)) throw invalid('logout_token exp is not a time (seconds since 1970, up to year 9999)');
    if (payload.iat > now + this.options.clockToleranceSec) throw invalid('logout_token iat is in the future');
    if (payload.exp === undefined) {
      // Only reachable with the opt-in for OPs that predate errata 1: then the token must be fresh.
      if (now - payload.iat > settings.backchannelMaxAgeMs / 1000 + this.options.clockToleranceSec) {
        throw invalid('logout_token has no exp and its iat is older than OIDC_BACKCHANNEL_MAX_AGE');
      }
    }
    if (typeof payload.jti !== 'string' || payload.jti === '') throw invalid('logout_token has no jti');
    if (!isObject(payload.events) || !isObject(payload.events[BACKCHANNEL_LOGOUT_EVENT])) {
      throw invalid('logout_token events must hold the back-channel logout event as a JSON object');
    }
    if ('nonce' in payload) throw invalid('logout_token must not contain a nonce');
    const sub = optionalString(payload.sub, 'sub');
    const sid = optionalString(payload.sid, 'sid');
    if (!sub && !sid) throw invalid('logout_token must contain sub, sid or both');
    // Postgres text cannot hold a NUL character, so no session has one: a final answer for the value
    // sessions are matched by (the sid, or the sub without a sid). It was a 503 on every retry.
    if (sid?.includes('\u0000')) throw invalid('logout_token sid must not contain a NUL character');
    if (!sid && sub?.includes('\u0000')) throw invalid('logout_token sub must not contain a NUL character');
    return { iss: payload.iss as string, sub, sid, jti: payload.jti, iat: payload.iat, exp: payload.exp };
  }

  private async verifySignature(token: string, header: ProtectedHeaderParameters, provider: ProviderClient): Promise<JWTPayload> {
    const alg = header.alg;
    if (typeof alg !== 'string' || !ALGORITHMS.includes(alg)) throw invalid('logout_token algorithm is not allowed');
    try {
      const keys = await this.keySet(provider);
      // jose's key set picks the key (kid, alg, key type) and refetches on an unknown kid. Without a kid
      // (or with one the set repeats) during a rotation several keys fit: the one whose signature holds.
      let key: SetKey;
      try {
        key = await keys(header, undefined as never);
      } catch (error) {
        if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
        return await this.verifyWithFirstMatch(error as unknown as AsyncIterable<SetKey>, token, alg, provider);
      }
      // One key (the usual case): its answer, whatever it is.
      return await this.verifyWith(key, token, alg, provider);
    } catch (error) {
      if (error instanceof OidcError) throw error;
      if (error instanceof TokenError) throw invalid(describeFastJwtError(error));
      if (error instanceof errors.JWKSTimeout || !(error instanceof errors.JOSEError)) {
        throw new OidcError('service_unavailable', 'The OpenID Provider keys could not be fetched; retry later');
      }
      if (error instanceof errors.JWKSNoMatchingKey) {
        // A key the OP may have just rotated in: the key set was refetched once if the cooldown allowed
        // it. Either way the OP must retry (503), never take a final 400 for a logout it may have signed.
        throw new OidcError('service_unavailable', 'logout_token is signed with a key not (yet) in the OpenID Provider key set; retry later', {
          reason: 'unknown_kid',
        });
      }
      throw invalid(describeJoseError(error as errors.JOSEError));
    }
  }

  /**
   * Verifies with the first candidate key whose signature check passes; a failed signature moves on to
   * the next key, anything else (a claim, an RSA key too short) is that key's answer. No key: the
   * signature is invalid.
   */
  private async verifyWithFirstMatch(candidates: AsyncIterable<SetKey>, token: string, alg: string, provider: ProviderClient): Promise<JWTPayload> {
    // Made only when every key fails: an error's stack trace was ≈ 3 % of every accepted logout.
    let refused: unknown;
    let tried = 0;
    for await (const key of candidates) {
      // A forged token without kid costs one signature check per fitting key: a few at most.
      if (++tried > MAX_CANDIDATE_KEYS) break;
      try {
        return await this.verifyWith(key, token, alg, provider);
      } catch (error) {
        // A key the module refuses (RSA under 2048 bits) is passed over, and is the answer if no other key verifies.
        if (error instanceof OidcError) refused = error;
        else if (!isBadSignature(error)) throw error;
        else if (!(refused instanceof OidcError)) refused = error;
      }
    }
    throw refused ?? new TokenError(TokenError.codes.invalidSignature, 'No key of the set verifies the signature');
  }

  /** The signature and the registered claims, with this key: fast-jwt (synchronous), or jose for `Ed25519`. */
  private verifyWith(key: SetKey, token: string, alg: string, provider: ProviderClient): JWTPayload | Promise<JWTPayload> {
    if (FAST_JWT_ALGORITHMS.has(alg)) return this.fastVerifier(key, alg, provider)(token);
    return jwtVerify(token, key, this.claimOptions(provider)).then((verified) => verified.payload);
  }

  /** The same checks for both libraries: this provider's issuer and client id, the allowed algorithms, the required claims. */
  private claimOptions(provider: ProviderClient) {
    const settings = provider.options;
    return {
      issuer: settings.issuer,
      audience: settings.clientId,
      algorithms: ALGORITHMS,
      clockTolerance: this.options.clockToleranceSec,
      requiredClaims: settings.backchannelAllowMissingExp ? ['iss', 'aud', 'iat'] : ['iss', 'aud', 'iat', 'exp'],
    };
  }

  private fastVerifier(key: SetKey, alg: string, provider: ProviderClient): FastVerifier {
    const cached = this.verifiers.get(key);
    if (cached?.provider === provider) return cached.verify;
    const keyObject = KeyObject.from(key as Parameters<typeof KeyObject.from>[0]);
    // jose refuses RSA keys under 2048 bits when it verifies (not when it imports); fast-jwt has no minimum.
    const rsaBits = keyObject.asymmetricKeyType?.startsWith('rsa') ? (keyObject.asymmetricKeyDetails?.modulusLength ?? 0) : undefined;
    if (rsaBits !== undefined && rsaBits < MIN_RSA_BITS) {
      const weak: FastVerifier = () => {
        throw invalid(`logout_token is signed with an RSA key of ${rsaBits} bits (at least ${MIN_RSA_BITS} required)`);
      };
      this.verifiers.set(key, { provider, verify: weak });
      return weak;
    }
    const claims = this.claimOptions(provider);
    const verify = createVerifier({
      key: keyObject.export({ type: 'spki', format: 'pem' }) as string,
      // The alg jose imported this key for: the token's own alg must be that one.
      algorithms: [alg as 'RS256'],
      allowedIss: claims.issuer,
      allowedAud: claims.audience,
      clockTolerance: claims.clockTolerance * 1000,
      requiredClaims: claims.requiredClaims,
      cache: false,
    }) as FastVerifier;
    this.verifiers.set(key, { provider, verify });
    return verify;
  }

  private async keySet(provider: ProviderClient): Promise<ReturnType<typeof createRemoteJWKSet>> {
    let uri: string;
    try {
      uri = await provider.jwksUri();
    } catch {
      throw new OidcError('service_unavailable', 'The OpenID Provider keys could not be fetched; retry later');
    }
    let cached = this.jwks.get(provider.id);
    if (cached?.uri !== uri) {
      cached = {
        uri,
        keys: createRemoteJWKSet(new URL(uri), { cooldownDuration: 30_000, cacheMaxAge: 600_000, timeoutDuration: this.options.httpTimeoutMs }),
      };
      this.jwks.set(provider.id, cached);
    }
    return cached.keys;
  }
}

function describeJoseError(error: errors.JOSEError): string {
  if (error instanceof errors.JWTClaimValidationFailed) return `logout_token ${error.claim} check failed: ${error.reason}`;
  if (error instanceof errors.JWTExpired) return 'logout_token has expired';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'logout_token algorithm is not allowed';
  if (error instanceof errors.JWKSNoMatchingKey) return 'logout_token is signed with an unknown key';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'logout_token signature is invalid';
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid) return 'logout_token is malformed';
  return `logout_token is invalid (${error.code})`;
}

/** fast-jwt's refusals in this module's words; the claim checks (iss, aud, a missing required claim) keep fast-jwt's message, which names the claim only. */
const FAST_JWT_REFUSALS: Record<string, string> = {
  [TokenError.codes.expired]: 'logout_token has expired',
  [TokenError.codes.invalidSignature]: 'logout_token signature is invalid',
  [TokenError.codes.verifyError]: 'logout_token signature is invalid',
  [TokenError.codes.invalidAlgorithm]: 'logout_token algorithm is not allowed',
  [TokenError.codes.malformed]: 'logout_token is malformed',
  [TokenError.codes.invalidPayload]: 'logout_token is malformed',
  [TokenError.codes.invalidType]: 'logout_token is malformed',
  [TokenError.codes.missingSignature]: 'logout_token is malformed',
  [TokenError.codes.inactive]: 'logout_token is not valid yet (nbf)',
  [TokenError.codes.invalidCritHeader]: 'logout_token has a crit header that is not understood',
};

/** The signature did not verify with this key (either library): another key of the set may. */
function isBadSignature(error: unknown): boolean {
  if (error instanceof errors.JWSSignatureVerificationFailed) return true;
  return error instanceof TokenError && (error.code === TokenError.codes.invalidSignature || error.code === TokenError.codes.verifyError);
}

function describeFastJwtError(error: TokenError): string {
  return FAST_JWT_REFUSALS[error.code] ?? `logout_token claim check failed: ${error.message}`;
}

function invalid(message: string): OidcError {
  return new OidcError('invalid_logout_token', message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw invalid(`logout_token ${name} must be a non-empty string`);
  return value;
}
