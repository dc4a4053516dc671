import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { importJWK, type JWTPayload, SignJWT } from 'jose';
import { e2e } from './app';

export const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** The dev OP's own signing key (it publishes the public half at its jwks_uri). */
export async function opKey() {
  const jwk = JSON.parse(readFileSync(e2e().jwksFile, 'utf8')).keys[0];
  return { key: await importJWK(jwk, 'RS256'), kid: jwk.kid as string, publicJwk: { kty: jwk.kty, n: jwk.n, e: jwk.e } };
}

/** A logout token as the OP would sign it; `claims` and `header` override or remove (undefined) members. */
export async function logoutToken(claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const { key, kid } = await opKey();
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: e2e().opUrl, aud: e2e().clientId, iat: now, exp: now + 120, jti: randomUUID(), events: { [BACKCHANNEL_EVENT]: {} }, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid, typ: 'logout+jwt', ...header })
    .sign(key);
}

export function postLogoutToken(appBase: string, token: string): Promise<Response> {
  return fetch(`${appBase}/auth/oidc/backchannel-logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: token }).toString(),
  });
}

/** A logout token signed by another development OP (its own JWKS file), for its issuer and client id. */
export async function logoutTokenOf(op: { jwksFile: string; issuer: string; clientId: string }, claims: JWTPayload): Promise<string> {
  const jwk = JSON.parse(readFileSync(op.jwksFile, 'utf8')).keys[0];
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: op.issuer, aud: op.clientId, iat: now, exp: now + 120, jti: randomUUID(), events: { [BACKCHANNEL_EVENT]: {} }, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'logout+jwt' })
    .sign(await importJWK(jwk, 'RS256'));
}

export function postLogoutTokenTo(appBase: string, path: string, token: string): Promise<Response> {
  return fetch(`${appBase}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: token }).toString(),
  });
}
