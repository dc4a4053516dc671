import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { ClientAuthMethod, ClientSigningKey, OidcProviderOptions, ParMode } from '../oidc/oidc.options';
import type { EnvReader } from './app-config';
import { CALLBACK_SUFFIX, callbackBase } from '../oidc/util/callback-path';
import { parseDuration } from './duration';

const PROVIDER_ID = /^[a-z0-9-]{1,32}$/;
/** The variables of provider `default`, besides OIDC_ISSUER. */
const SINGLE_PROVIDER_VARIABLES = [
  'OIDC_CLIENT_ID',
  'OIDC_CLIENT_SECRET',
  'OIDC_CLIENT_AUTH',
  'OIDC_CLIENT_PRIVATE_KEY',
  'OIDC_REDIRECT_URI',
  'OIDC_SCOPES',
  'OIDC_POST_LOGOUT_REDIRECT_URI',
  'OIDC_END_SESSION_ENDPOINT',
  'OIDC_PAR',
  'OIDC_PROVIDER_NAME',
  'OIDC_BACKCHANNEL_ALLOW_MISSING_EXP',
  'OIDC_BACKCHANNEL_MAX_AGE',
  'OIDC_FRONTCHANNEL_LOGOUT_WITHOUT_COOKIE',
];
/** The JWS algorithms a client-assertion key may use, by key type (never HMAC or none). */
const KEY_ALGORITHMS: Record<string, (jwk: Record<string, unknown>) => string[]> = {
  RSA: () => ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  EC: (jwk) => ({ 'P-256': ['ES256'], 'P-384': ['ES384'], 'P-521': ['ES512'] })[String(jwk.crv)] ?? [],
  OKP: (jwk) => (jwk.crv === 'Ed25519' ? ['EdDSA', 'Ed25519'] : []),
};
const CLIENT_AUTH = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
const PAR_MODES = ['auto', 'off', 'required'] as const;

/** One entry of `OIDC_PROVIDERS` (JSON). Unknown keys are refused, so a typo never becomes a silent default. */
const providerSchema = z.strictObject({
  id: z.string().regex(PROVIDER_ID, 'must be 1-32 lower-case letters, digits or -'),
  name: z.string().min(1).max(100).optional(),
  issuer: z.string().min(1),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1).optional(),
  clientAuth: z.enum(CLIENT_AUTH).optional(),
  /** Private JWK (with `kid`) for `private_key_jwt`. */
  privateKeyJwk: z.record(z.string(), z.unknown()).optional(),
  redirectUri: z.string().min(1),
  scopes: z.string().min(1).optional(),
  postLogoutRedirectUri: z.string().min(1).optional(),
  endSessionEndpoint: z.string().min(1).optional(),
  par: z.enum(PAR_MODES).optional(),
  backchannelLogout: z.strictObject({ allowMissingExp: z.boolean().optional(), maxAge: z.string().optional() }).optional(),
  frontchannelLogout: z.strictObject({ withoutCookie: z.boolean().optional() }).optional(),
});
type ProviderEntry = z.infer<typeof providerSchema>;

/**
 * The OpenID Providers: the single-provider variables (`OIDC_ISSUER`, `OIDC_CLIENT_ID`, …) are provider
 * `default`; `OIDC_PROVIDERS` (a JSON array) or `OIDC_PROVIDERS_FILE` (a JSON file) add more. Every
 * problem is reported with the variable (and entry) it comes from.
 */
export function loadProviders(r: EnvReader, allowInsecureHttp: boolean): OidcProviderOptions[] {
  const providers: OidcProviderOptions[] = [];
  const listed = readProviderList(r);
  if (r.raw('OIDC_ISSUER') !== undefined || listed === undefined) {
    const fromEnv = singleProvider(r, allowInsecureHttp);
    if (fromEnv) providers.push(fromEnv);
  } else {
    // Provider `default` needs OIDC_ISSUER: its other variables alone would be silently ignored.
    const leftovers = SINGLE_PROVIDER_VARIABLES.filter((name) => r.raw(name) !== undefined);
    if (leftovers.length) {
      r.problems.push(`${leftovers.join(', ')} ${leftovers.length > 1 ? 'are' : 'is'} set but OIDC_ISSUER is not: set OIDC_ISSUER for provider "default", or remove them and configure every provider in ${listed.source}`);
    }
  }
  for (const [index, entry] of (listed?.entries ?? []).entries()) {
    const provider = listedProvider(r, `${listed?.source}[${index}]`, entry, allowInsecureHttp);
    if (provider) providers.push(provider);
  }
  checkTogether(r, providers);
  return providers;
}

/** `OIDC_ISSUER` and friends as provider `default`. */
function singleProvider(r: EnvReader, allowHttp: boolean): OidcProviderOptions | undefined {
  const issuer = r.url('OIDC_ISSUER', r.required('OIDC_ISSUER', 'is required (or OIDC_PROVIDERS / OIDC_PROVIDERS_FILE for several providers)'), allowHttp);
  const clientId = r.required('OIDC_CLIENT_ID');
  const clientAuth = r.oneOf<ClientAuthMethod>('OIDC_CLIENT_AUTH', CLIENT_AUTH, 'client_secret_post');
  const clientSecret = clientAuth === 'private_key_jwt' ? r.raw('OIDC_CLIENT_SECRET') : r.required('OIDC_CLIENT_SECRET');
  let clientSigningKey: ClientSigningKey | undefined;
  if (clientAuth === 'private_key_jwt') {
    const raw = r.required('OIDC_CLIENT_PRIVATE_KEY', 'is required when OIDC_CLIENT_AUTH=private_key_jwt (a private JWK with kid, as JSON)');
    if (raw) clientSigningKey = signingKey('OIDC_CLIENT_PRIVATE_KEY', parseJson(r, 'OIDC_CLIENT_PRIVATE_KEY', raw), r.problems);
  }
  const redirectUri = r.url('OIDC_REDIRECT_URI', r.required('OIDC_REDIRECT_URI'), allowHttp) ?? '';
  checkRedirectUri(r.problems, 'OIDC_REDIRECT_URI', redirectUri, 'default');
  const scopes = r.string('OIDC_SCOPES', 'openid profile email');
  if (!scopes.split(/\s+/).includes('openid')) r.problems.push('OIDC_SCOPES must include "openid"');
  const maxAge = r.duration('OIDC_BACKCHANNEL_MAX_AGE', '2m');
  if (maxAge > 3_600_000) r.problems.push('OIDC_BACKCHANNEL_MAX_AGE must be at most 1h');
  if (!issuer) return undefined;
  return {
    id: 'default',
    displayName: r.string('OIDC_PROVIDER_NAME', 'Single sign-on'),
    issuer,
    clientId,
    clientSecret,
    clientAuth,
    clientSigningKey,
    redirectUri,
    scopes,
    postLogoutRedirectUri: r.url('OIDC_POST_LOGOUT_REDIRECT_URI', r.raw('OIDC_POST_LOGOUT_REDIRECT_URI'), allowHttp),
    endSessionEndpoint: r.url('OIDC_END_SESSION_ENDPOINT', r.raw('OIDC_END_SESSION_ENDPOINT'), allowHttp),
    par: r.oneOf<ParMode>('OIDC_PAR', PAR_MODES, 'auto'),
    backchannelAllowMissingExp: r.bool('OIDC_BACKCHANNEL_ALLOW_MISSING_EXP', false),
    backchannelMaxAgeMs: maxAge,
    frontchannelLogoutWithoutCookie: r.bool('OIDC_FRONTCHANNEL_LOGOUT_WITHOUT_COOKIE', false),
  };
}

function readProviderList(r: EnvReader): { source: string; entries: ProviderEntry[] } | undefined {
  const inline = r.raw('OIDC_PROVIDERS');
  const file = r.raw('OIDC_PROVIDERS_FILE');
  if (inline !== undefined && file !== undefined) {
    r.problems.push('OIDC_PROVIDERS and OIDC_PROVIDERS_FILE are both set; use one');
    return { source: 'OIDC_PROVIDERS', entries: [] };
  }
  if (inline === undefined && file === undefined) return undefined;
  const source = inline !== undefined ? 'OIDC_PROVIDERS' : 'OIDC_PROVIDERS_FILE';
  let text = inline;
  if (file !== undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      r.problems.push(`OIDC_PROVIDERS_FILE cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}): ${file}`);
      return { source, entries: [] };
    }
  }
  const json = parseJson(r, source, text ?? '');
  if (json === undefined) return { source, entries: [] };
  const parsed = z.array(z.unknown()).min(1).safeParse(json);
  if (!parsed.success) {
    r.problems.push(`${source} must be a non-empty JSON array of providers`);
    return { source, entries: [] };
  }
  const entries: ProviderEntry[] = [];
  for (const [index, item] of parsed.data.entries()) {
    const entry = providerSchema.safeParse(item, { reportInput: true });
    if (entry.success) {
      entries.push(entry.data);
      continue;
    }
    for (const issue of entry.error.issues) {
      const where = issue.path.length ? `.${issue.path.join('.')}` : '';
      r.problems.push(`${source}[${index}]${where} ${describeIssue(issue)}`);
    }
  }
  return { source, entries };
}

function listedProvider(r: EnvReader, name: string, entry: ProviderEntry, allowHttp: boolean): OidcProviderOptions | undefined {
  const before = r.problems.length;
  const issuer = r.url(`${name}.issuer`, entry.issuer, allowHttp);
  const redirectUri = r.url(`${name}.redirectUri`, entry.redirectUri, allowHttp) ?? '';
  checkRedirectUri(r.problems, `${name}.redirectUri`, redirectUri, entry.id);
  const clientAuth = entry.clientAuth ?? 'client_secret_post';
  if (clientAuth !== 'private_key_jwt' && !entry.clientSecret) r.problems.push(`${name}.clientSecret is required (clientAuth ${clientAuth})`);
  let clientSigningKey: ClientSigningKey | undefined;
  if (clientAuth === 'private_key_jwt') {
    if (!entry.privateKeyJwk) r.problems.push(`${name}.privateKeyJwk is required when clientAuth is private_key_jwt`);
    else clientSigningKey = signingKey(`${name}.privateKeyJwk`, entry.privateKeyJwk, r.problems);
  }
  const scopes = entry.scopes ?? 'openid profile email';
  if (!scopes.split(/\s+/).includes('openid')) r.problems.push(`${name}.scopes must include "openid"`);
  const maxAgeText = entry.backchannelLogout?.maxAge ?? '2m';
  const maxAge = parseDuration(maxAgeText);
  if (maxAge === undefined || maxAge > 3_600_000) r.problems.push(`${name}.backchannelLogout.maxAge must be a duration of at most 1h, got "${maxAgeText}"`);
  const postLogoutRedirectUri = r.url(`${name}.postLogoutRedirectUri`, entry.postLogoutRedirectUri, allowHttp);
  const endSessionEndpoint = r.url(`${name}.endSessionEndpoint`, entry.endSessionEndpoint, allowHttp);
  if (r.problems.length > before || !issuer) return undefined;
  return {
    id: entry.id,
    displayName: entry.name ?? entry.id,
    issuer,
    clientId: entry.clientId,
    clientSecret: entry.clientSecret,
    clientAuth,
    clientSigningKey,
    redirectUri,
    scopes,
    postLogoutRedirectUri,
    endSessionEndpoint,
    par: entry.par ?? 'auto',
    backchannelAllowMissingExp: entry.backchannelLogout?.allowMissingExp ?? false,
    backchannelMaxAgeMs: maxAge ?? 120_000,
    frontchannelLogoutWithoutCookie: entry.frontchannelLogout?.withoutCookie ?? false,
  };
}

/**
 * A provider's redirect URI is its own callback route: `…/auth/oidc/callback/<id>`, or for provider
 * `default` also `…/auth/oidc/callback` (the single-provider URL that OPs already have registered).
 */
function checkRedirectUri(problems: string[], name: string, redirectUri: string, id: string): void {
  if (!redirectUri) return;
  if (new URL(redirectUri).search) {
    problems.push(`${name} must not contain a query string, got "${redirectUri}"`);
    return;
  }
  const path = new URL(redirectUri).pathname;
  const own = `${CALLBACK_SUFFIX}/${id}`;
  if (path.endsWith(own) || (id === 'default' && path.endsWith(CALLBACK_SUFFIX))) return;
  problems.push(
    `${name} must be the URL of this provider's callback route, ending in ${own}${id === 'default' ? ` or ${CALLBACK_SUFFIX}` : ''} (no trailing slash), got "${redirectUri}"`,
  );
}

/** Ids and issuers distinct (a session finds its provider by issuer); one origin and one route prefix. */
function checkTogether(r: EnvReader, providers: OidcProviderOptions[]): void {
  const seenIds = new Set<string>();
  const seenIssuers = new Map<string, string>();
  for (const p of providers) {
    if (seenIds.has(p.id)) r.problems.push(`provider id "${p.id}" is used twice (OIDC_ISSUER is provider "default")`);
    seenIds.add(p.id);
    // https://OP, https://op/ and https://op:443 are one OP.
    const normalized = new URL(p.issuer).href.replace(/\/$/, '');
    const other = seenIssuers.get(normalized);
    if (other) r.problems.push(`providers "${other}" and "${p.id}" have the same issuer ${p.issuer}; each provider needs its own issuer`);
    seenIssuers.set(normalized, p.id);
  }
  const bases = new Set(providers.filter((p) => p.redirectUri).map((p) => callbackBase(p.redirectUri)));
  if (bases.size > 1) {
    r.problems.push(`every provider's redirect URI must be on the same origin and under the same path prefix, got ${[...bases].join(', ')}`);
  }
}

function signingKey(name: string, jwk: unknown, problems: string[]): ClientSigningKey | undefined {
  if (jwk === undefined) return undefined;
  const candidate = jwk as Record<string, unknown>;
  if (typeof candidate !== 'object' || candidate === null || typeof candidate.kid !== 'string' || !candidate.kid) {
    problems.push(`${name} must be a private JWK with a "kid"`);
    return undefined;
  }
  try {
    const key = createPrivateKey({ key: candidate as never, format: 'jwk' });
    if (key.type !== 'private') throw new Error('not private');
  } catch {
    problems.push(`${name} is not a usable private JWK (RSA, EC or OKP with its private part "d")`);
    return undefined;
  }
  const allowed = KEY_ALGORITHMS[String(candidate.kty)]?.(candidate) ?? [];
  if (allowed.length === 0) {
    problems.push(`${name} must be an RSA, EC (P-256, P-384, P-521) or Ed25519 key`);
    return undefined;
  }
  if (candidate.alg !== undefined && !allowed.includes(String(candidate.alg))) {
    problems.push(`${name} "alg" ${JSON.stringify(candidate.alg)} does not fit this key; use one of ${allowed.join(', ')} (or leave it out)`);
    return undefined;
  }
  return { jwk: candidate as ClientSigningKey['jwk'] };
}

function parseJson(r: EnvReader, name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    r.problems.push(`${name} is not valid JSON`);
    return undefined;
  }
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `has unknown keys: ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_type') return issue.input === undefined ? 'is required' : `must be ${issue.expected}`;
  if (issue.code === 'invalid_value') return `must be one of ${issue.values.map(String).join(', ')}`;
  return issue.message;
}
