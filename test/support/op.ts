import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { appUrl, e2e, jsonBody } from './app';
import { startDevOp } from './dev-op';

/** Spends a refresh token at the dev OP's token endpoint, as the app's client would. */
export async function refreshAtOp(refreshToken: string, opUrl = e2e().opUrl): Promise<{ status: number; error?: string }> {
  const env = e2e();
  const response = await fetch(`${opUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: env.clientId, client_secret: env.clientSecret }),
  });
  const body = await jsonBody(response);
  return { status: response.status, error: body.error };
}

/** Polls `probe` until `done` holds or the time is up; returns the last value. */
export async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    value = await probe();
  }
  return value;
}

/** Revokes a token at the dev OP's revocation endpoint, as an administrator (or the user elsewhere) would. */
export async function revokeAtOp(token: string, opUrl = e2e().opUrl): Promise<number> {
  const env = e2e();
  const response = await fetch(`${opUrl}/token/revocation`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, client_id: env.clientId, client_secret: env.clientSecret }).toString(),
  });
  return response.status;
}

/**
 * A development OP of a test's own (listening on `port`, known under `issuer`, e.g. a proxy in front
 * of it), with the test client registered for both test app ports, the test users and its own keys.
 */
export function startOwnDevOp(port: number, issuer: string, name: string, extra: Record<string, string> = {}): Promise<ChildProcess> {
  const apps = [appUrl(0), appUrl(1)];
  return startDevOp({
    DEV_IDP_PORT: String(port),
    DEV_IDP_ISSUER: issuer,
    DEV_IDP_CLIENT_ID: e2e().clientId,
    DEV_IDP_CLIENT_SECRET: e2e().clientSecret,
    DEV_IDP_REDIRECT_URIS: apps.map((a) => `${a}/auth/oidc/callback`).join(','),
    DEV_IDP_POST_LOGOUT_REDIRECT_URIS: apps.map((a) => `${a}/logged-out`).join(','),
    DEV_IDP_BACKCHANNEL_LOGOUT_URI: `${apps[0]}/auth/oidc/backchannel-logout`,
    DEV_IDP_USERS_FILE: join(e2e().workDir, 'users.json'),
    DEV_IDP_JWKS_FILE: join(e2e().workDir, `${name}-op-jwks.json`),
    ...extra,
  });
}
