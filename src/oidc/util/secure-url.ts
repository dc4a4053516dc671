/** True for an absolute https URL (or http when insecure http is allowed), without credentials. */
export function isSecureUrl(value: string | undefined, allowInsecureHttp: boolean): value is string {
  if (!value) return false;
  try {
    const url = new URL(value);
    const schemeOk = url.protocol === 'https:' || (allowInsecureHttp && url.protocol === 'http:');
    return schemeOk && !url.username && !url.password;
  } catch {
    return false;
  }
}
