import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2e, type RunningApp, startApp } from './support/app';
import { freePort, startDevOp, stopDevOp } from './support/dev-op';
import { BACKCHANNEL_EVENT, postLogoutToken } from './support/logout-token';

/** The OP's JWKS cooldown in the verifier: no refetch sooner than this after the last fetch. */
const COOLDOWN_MS = 30_000;

async function signingKey(kid: string) {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' } as JWK };
}

describe('OP signing-key rotation: an unknown kid triggers a bounded JWKS refetch and a retryable 503', () => {
  let op: ChildProcess;
  let app: RunningApp;
  let issuer: string;
  let opEnv: Record<string, string>;
  const jwksFile = join(e2e().workDir, 'rotating-jwks.json');

  const token = (key: Awaited<ReturnType<typeof signingKey>>) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: issuer, aud: e2e().clientId, iat: now, exp: now + 120, jti: randomUUID(), sid: `rotation-${randomUUID()}`, events: { [BACKCHANNEL_EVENT]: {} } })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'logout+jwt' })
      .sign(key.privateKey);
  };

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    opEnv = { DEV_IDP_PORT: String(port), DEV_IDP_ISSUER: issuer, DEV_IDP_CLIENT_ID: e2e().clientId, DEV_IDP_JWKS_FILE: jwksFile };
    app = await startApp({ OIDC_ISSUER: issuer, OIDC_UNLINKED_IDENTITY: 'create' });
  });
  afterAll(async () => {
    await app.close();
    if (op) await stopDevOp(op);
  });

  it('answers 503 for the new key within the cooldown and accepts it (the same token) after, without restarting the app', { timeout: COOLDOWN_MS + 20_000 }, async () => {
    const oldKey = await signingKey('old');
    const newKey = await signingKey('new');
    writeFileSync(jwksFile, JSON.stringify({ keys: [oldKey.jwk] }));
    op = await startDevOp(opEnv);

    expect((await postLogoutToken(app.url, await token(oldKey))).status).toBe(200);
    const firstFetch = Date.now();

    // The OP rotates: it now publishes the new key (first, so it signs with it) and the old one.
    await stopDevOp(op);
    writeFileSync(jwksFile, JSON.stringify({ keys: [newKey.jwk, oldKey.jwk] }));
    op = await startDevOp(opEnv);

    // Within the cooldown an unknown kid does not make the app hammer the OP, and the logout is not
    // lost either: 503, so the OP retries.
    const earlyToken = await token(newKey);
    const early = await postLogoutToken(app.url, earlyToken);
    expect(early.status).toBe(503);
    expect((await early.json()) as unknown).toEqual({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/not \(yet\) in the OpenID Provider key set/) });
    expect((await postLogoutToken(app.url, await token(oldKey))).status).toBe(200);

    await new Promise((r) => setTimeout(r, Math.max(0, firstFetch + COOLDOWN_MS + 500 - Date.now())));
    // The OP's retry of the same token succeeds after one refetch.
    expect((await postLogoutToken(app.url, earlyToken)).status).toBe(200);
    expect((await postLogoutToken(app.url, await token(newKey))).status).toBe(200);
    expect((await postLogoutToken(app.url, await token(oldKey))).status).toBe(200);
  });
});
