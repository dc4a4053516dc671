const MAX_LENGTH = 2048;
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const PROBE_ORIGIN = 'https://return-to.invalid';

export interface ReturnToRules {
  /** Lower-case `host` or `host:port` values allowed in an absolute `return_to`. */
  allowedHosts: string[];
  allowHttp: boolean;
}

/**
 * Returns the `return_to` to redirect to after login, or `undefined` when it is unsafe.
 * Relative paths are always allowed; absolute URLs only for allowed hosts. Rejected: protocol-
 * relative (`//x`), backslashes, control characters, encoded forms of these, userinfo, other schemes.
 */
export function validateReturnTo(input: string | undefined, rules: ReturnToRules): string | undefined {
  if (input === undefined || input === '') return '/';
  if (input.length > MAX_LENGTH || CONTROL.test(input) || input.includes('\\')) return undefined;

  let decoded: string;
  try {
    decoded = decodeURIComponent(input);
  } catch {
    return undefined;
  }
  if (CONTROL.test(decoded) || decoded.includes('\\')) return undefined;

  if (input.startsWith('/')) return validateRelative(input, decoded);
  return validateAbsolute(input, rules);
}

function validateRelative(input: string, decoded: string): string | undefined {
  if (input.startsWith('//') || decoded.startsWith('//')) return undefined;
  let resolved: URL;
  try {
    resolved = new URL(input, PROBE_ORIGIN);
  } catch {
    return undefined;
  }
  if (resolved.origin !== PROBE_ORIGIN || resolved.pathname.startsWith('//')) return undefined;
  return input;
}

function validateAbsolute(input: string, rules: ReturnToRules): string | undefined {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && !(rules.allowHttp && url.protocol === 'http:')) return undefined;
  if (url.username || url.password) return undefined;
  // The URL parser forgives `https:evil.com` and `https:/evil.com`; only the canonical form is accepted.
  if (!input.toLowerCase().startsWith(`${url.protocol}//`)) return undefined;
  if (!rules.allowedHosts.includes(url.host.toLowerCase())) return undefined;
  return url.href;
}
