/** The callback route's path, under whatever prefix the host mounts the module. */
export const CALLBACK_SUFFIX = '/auth/oidc/callback';

/** `https://app.example.com/prefix/auth/oidc/callback` for any provider's redirect URI (its own `…/callback/<id>` included). */
export function callbackBase(redirectUri: string): string {
  const url = new URL(redirectUri);
  const at = url.pathname.lastIndexOf(CALLBACK_SUFFIX);
  return `${url.origin}${url.pathname.slice(0, at + CALLBACK_SUFFIX.length)}`;
}

/** The app's own origins: those of its providers' redirect URIs. */
export function appOrigins(providers: ReadonlyArray<{ redirectUri: string }>): string[] {
  return providers.map((p) => new URL(p.redirectUri).origin);
}
