import { e2e, jsonBody } from './app';

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
