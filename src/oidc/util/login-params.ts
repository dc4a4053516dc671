import { OidcError } from '../errors/oidc-error';

/** The authorization request parameters a caller of `GET /auth/oidc/login` may set, already checked. */
export interface LoginParams {
  prompt?: string;
  /** Seconds; `0` forces a new authentication at the OP. */
  maxAge?: number;
  acrValues?: string[];
  loginHint?: string;
  uiLocales?: string;
}

const PROMPTS = new Set(['none', 'login', 'consent', 'select_account', 'create']);
/** RFC 6749 NQCHAR-like: printable ASCII without space, quote or backslash. */
const ACR_VALUE = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;
const LOCALE = /^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$/;
const PRINTABLE = /^[\x20-\x7e]{1,256}$/;
const MAX_AGE_LIMIT = 366 * 24 * 3600;

type Raw = string | string[] | undefined;

/**
 * Validates the login parameters against an allowlist: anything else in the query is ignored, and a
 * bad value is a 400 `invalid_login_parameter` naming the parameter (never an OP error page later).
 */
export function parseLoginParams(query: { prompt?: Raw; max_age?: Raw; acr_values?: Raw; login_hint?: Raw; ui_locales?: Raw }): LoginParams {
  const params: LoginParams = {};
  const prompt = single(query.prompt, 'prompt');
  if (prompt !== undefined) {
    const values = prompt.split(' ');
    if (values.some((v) => !PROMPTS.has(v)) || new Set(values).size !== values.length) {
      throw bad('prompt must be none, login, consent, select_account or create (space-separated, no repeats)');
    }
    if (values.includes('none') && values.length > 1) throw bad('prompt=none cannot be combined with other values');
    params.prompt = prompt;
  }
  const maxAge = single(query.max_age, 'max_age');
  if (maxAge !== undefined) {
    if (!/^\d{1,8}$/.test(maxAge) || Number(maxAge) > MAX_AGE_LIMIT) throw bad(`max_age must be a whole number of seconds from 0 to ${MAX_AGE_LIMIT}`);
    params.maxAge = Number(maxAge);
  }
  const acr = single(query.acr_values, 'acr_values');
  if (acr !== undefined) {
    const values = acr.split(' ');
    if (values.length > 10 || values.some((v) => !ACR_VALUE.test(v))) throw bad('acr_values must be 1-10 space-separated values of printable characters');
    params.acrValues = values;
  }
  const hint = single(query.login_hint, 'login_hint');
  if (hint !== undefined) {
    if (!PRINTABLE.test(hint)) throw bad('login_hint must be 1-256 printable characters');
    params.loginHint = hint;
  }
  const locales = single(query.ui_locales, 'ui_locales');
  if (locales !== undefined) {
    const values = locales.split(' ');
    if (values.length > 10 || values.some((v) => !LOCALE.test(v))) throw bad('ui_locales must be up to 10 space-separated language tags (e.g. "de-CH fr")');
    params.uiLocales = locales;
  }
  return params;
}

/**
 * The parameters of a link (`GET /auth/oidc/link`): those of a login, but always a fresh
 * authentication at the OP (`max_age=0`, whose `auth_time` openid-client checks), so that an OP
 * session someone else left or planted in this browser cannot be linked silently; `prompt=none`, which
 * would ask for exactly that, is refused.
 */
export function linkParams(params: LoginParams): LoginParams {
  if (params.prompt === 'none') throw bad('prompt=none cannot link an identity: linking needs a fresh sign-in at the OpenID Provider');
  return { ...params, maxAge: 0 };
}

/** The parameters as the authorization request carries them. */
export function authorizationParams(params: LoginParams): Record<string, string> {
  const out: Record<string, string> = {};
  if (params.prompt !== undefined) out.prompt = params.prompt;
  if (params.maxAge !== undefined) out.max_age = String(params.maxAge);
  if (params.acrValues !== undefined) out.acr_values = params.acrValues.join(' ');
  if (params.loginHint !== undefined) out.login_hint = params.loginHint;
  if (params.uiLocales !== undefined) out.ui_locales = params.uiLocales;
  return out;
}

function single(value: Raw, name: string): string | undefined {
  if (Array.isArray(value)) throw bad(`${name} must be given at most once`);
  return value === undefined || value === '' ? undefined : value;
}

function bad(message: string): OidcError {
  return new OidcError('invalid_login_parameter', message);
}
