import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonBody, type RunningApp, startApp, startAppProcess, testState, vaultToken, withDb } from './support/app';
import { devOpLog, freePort, stopDevOp } from './support/dev-op';
import { bearer, signIn as signInAt } from './support/flows';
import { eventually, refreshAtOp, revokeAtOp, startOwnDevOp } from './support/op';
import { TcpProxy } from './support/tcp-proxy';

/** Calling an API as the user: the access token from the login, refreshed once per session across instances. */
describe('access tokens for APIs (OidcTokenService, @AccessToken)', () => {
  let op: ChildProcess;
  let opProxy: TcpProxy;
  let issuer: string;
  let first: RunningApp;
  let second: RunningApp;
  const state = testState();

  const refreshGrants = () => devOpLog(op).filter((l) => l.msg === 'grant.success' && l.grant_type === 'refresh_token').length;
  const accessTokenOf = async (sessionId: string) => (await vaultToken(state, sessionId, 'access_token'))?.replace(/^\d+\.\d+\./, '');
  const userinfo = (app: RunningApp, token: string | undefined) => fetch(`${app.url}/api/userinfo`, { headers: bearer(token) });

  const signIn = (username: string) => signInAt(first.url, username);


  beforeAll(async () => {
    // The OP sits behind a proxy that the test can cut: its issuer is the proxy's address.
    const [opPort, proxyPort] = await Promise.all([freePort(), freePort()]);
    issuer = `http://127.0.0.1:${proxyPort}`;
    opProxy = new TcpProxy('127.0.0.1', opPort, proxyPort);
    await opProxy.start();
    op = await startOwnDevOp(opPort, issuer, 'access-token', { DEV_IDP_ACCESS_TOKEN_TTL: '5' });
    const env = { OIDC_ISSUER: issuer, OIDC_UNLINKED_IDENTITY: 'create', OIDC_ACCESS_TOKEN_REFRESH_SKEW: '1s', OIDC_OUTBOX_RETRY_INTERVAL: '1s' };
    first = await startApp(env, 0);
    second = await startAppProcess(env, 1);
  });
  afterAll(async () => {
    await second.close();
    await first.close();
    await stopDevOp(op);
    await opProxy.stop();
    await state.close();
  });

  it('after expiry, 20 concurrent calls over two instances all succeed with exactly one refresh grant, and the rotated token is saved', async () => {
    const user = await signIn('u105');
    const atLogin = await userinfo(first, user.token);
    expect(atLogin.status).toBe(200);
    expect(await jsonBody(atLogin)).toMatchObject({ sub: 'u105', email: 'u105@example.com' });
    expect(atLogin.headers.get('cache-control')).toBe('no-store');
    expect(refreshGrants()).toBe(0);
    const spentRefreshToken = (await vaultToken(state, user.sessionId, 'refresh_token')) as string;
    const firstAccessToken = await accessTokenOf(user.sessionId);

    await new Promise((r) => setTimeout(r, 5_200));
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => userinfo(i % 2 ? second : first, user.token)));
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    for (const r of responses) expect((await jsonBody(r)).sub).toBe('u105');
    expect(refreshGrants()).toBe(1);

    const rotated = (await vaultToken(state, user.sessionId, 'refresh_token')) as string;
    expect(rotated).toEqual(expect.any(String));
    expect(rotated).not.toBe(spentRefreshToken);
    expect(await accessTokenOf(user.sessionId)).not.toBe(firstAccessToken);
    // The OP rotated the refresh token: the spent one is refused now.
    expect(await refreshAtOp(spentRefreshToken, issuer)).toEqual({ status: 400, error: 'invalid_grant' });

    // Neither the access tokens nor the refresh tokens appear in any log line of either instance.
    const logs = [...first.logs, ...second.logs].join('\n');
    for (const secret of [spentRefreshToken, rotated, firstAccessToken as string]) expect(logs).not.toContain(secret);
  });

  it("a refresh's audit lines carry the caller's IP and user agent: a success, and a refusal with its session_revoked", async () => {
    const audit = (from: number) =>
      first.logs
        .slice(from)
        .map((l) => JSON.parse(l))
        .filter((l) => l.msg === 'audit');
    const caller = { clientIp: expect.stringMatching(/127\.0\.0\.1$/), userAgent: 'RefreshCaller/1.0' };
    const call = (token: string) => fetch(`${first.url}/api/userinfo`, { headers: { ...bearer(token), 'user-agent': 'RefreshCaller/1.0' } });

    const user = await signIn('u181');
    await state.delete([`oidc:vault:{session:${user.sessionId}}:access_token`]); // as if it had expired
    let from = first.logs.length;
    expect((await call(user.token)).status).toBe(200);
    expect(audit(from).find((l) => l.event === 'token_refresh')).toMatchObject({ outcome: 'success', sessionId: user.sessionId, ...caller });

    expect(await revokeAtOp((await vaultToken(state, user.sessionId, 'refresh_token')) as string, issuer)).toBe(200);
    await state.delete([`oidc:vault:{session:${user.sessionId}}:access_token`]);
    from = first.logs.length;
    expect((await call(user.token)).status).toBe(401);
    expect(audit(from).find((l) => l.event === 'token_refresh')).toMatchObject({ outcome: 'rejected', ...caller });
    expect(audit(from).find((l) => l.event === 'session_revoked')).toMatchObject({ reason: 'refresh_failed', ...caller });
  });

  it('a refresh token revoked at the OP: the next call answers 401 refresh_failed and the session is revoked', async () => {
    const user = await signIn('u106');
    expect(await revokeAtOp((await vaultToken(state, user.sessionId, 'refresh_token')) as string, issuer)).toBe(200);
    await state.delete([`oidc:vault:{session:${user.sessionId}}:access_token`]); // as if it had expired
    const refused = await userinfo(second, user.token);
    expect(refused.status).toBe(401);
    expect((await jsonBody(refused)).error).toBe('refresh_failed');
    expect((await fetch(`${first.url}/auth/session`, { headers: bearer(user.token) })).status).toBe(401);
    const [row] = await withDb(async (db) => (await db.query('SELECT revoked_reason FROM sessions WHERE id = $1', [user.sessionId])).rows);
    expect(row.revoked_reason).toBe('refresh_failed');
    expect(await state.keys(`oidc:vault:{session:${user.sessionId}}:`)).toEqual([]);
  });

  it('the OP unreachable during a refresh: 503 and the session is kept; it works again once the OP is back', async () => {
    const user = await signIn('u107');
    await state.delete([`oidc:vault:{session:${user.sessionId}}:access_token`]);
    await opProxy.stop();
    try {
      const down = await userinfo(first, user.token);
      expect(down.status).toBe(503);
      expect((await jsonBody(down)).error).toBe('service_unavailable');
      expect((await fetch(`${first.url}/auth/session`, { headers: bearer(user.token) })).status).toBe(200);
    } finally {
      await opProxy.start();
    }
    const back = await userinfo(second, user.token);
    expect(back.status).toBe(200);
    expect((await jsonBody(back)).sub).toBe('u107');
  });

  it('no refresh token: 401 no_refresh_token, and the session stays', async () => {
    const user = await signIn('u108');
    await state.delete([`oidc:vault:{session:${user.sessionId}}:access_token`, `oidc:vault:{session:${user.sessionId}}:refresh_token`]);
    const refused = await userinfo(first, user.token);
    expect(refused.status).toBe(401);
    expect(await jsonBody(refused)).toEqual({ error: 'no_refresh_token', message: expect.stringMatching(/offline_access/) });
    expect((await fetch(`${first.url}/auth/session`, { headers: bearer(user.token) })).status).toBe(200);
  });

  it('access tokens are dropped with the session', async () => {
    const user = await signIn('u109');
    expect(await accessTokenOf(user.sessionId)).toEqual(expect.any(String));
    const out = await fetch(`${first.url}/auth/oidc/logout`, { method: 'POST', headers: { ...bearer(user.token), 'content-type': 'application/json' }, body: '{}' });
    expect(out.status).toBe(200);
    expect(await state.keys(`oidc:vault:{session:${user.sessionId}}:`)).toEqual([]);
    expect((await userinfo(first, user.token)).status).toBe(401);
  });

  it('a logout while the OP is unreachable: the refresh token stays queued and is revoked at the OP once it is back', { timeout: 40_000 }, async () => {
    const user = await signIn('u110');
    const refreshToken = (await vaultToken(state, user.sessionId, 'refresh_token')) as string;
    await opProxy.stop();
    try {
      const out = await fetch(`${first.url}/auth/oidc/logout`, { method: 'POST', headers: { ...bearer(user.token), 'content-type': 'application/json' }, body: '{}' });
      expect(out.status).toBe(200);
      expect((await fetch(`${first.url}/auth/session`, { headers: bearer(user.token) })).status).toBe(401);
      // Nothing usable is left, but the refresh token waits for its revocation.
      expect(await vaultToken(state, user.sessionId, 'access_token')).toBeUndefined();
      expect(await vaultToken(state, user.sessionId, 'refresh_token')).toBe(refreshToken);
      const queued = await withDb(async (db) => (await db.query('SELECT reason FROM session_token_outbox WHERE session_id = $1', [user.sessionId])).rows);
      expect(queued).toEqual([{ reason: 'logout' }]);
    } finally {
      await opProxy.start();
    }
    // The outbox job (every second, after a 5 s grace period) revokes it, then forgets it.
    const outbox = () => withDb(async (db) => (await db.query('SELECT count(*)::int AS n FROM session_token_outbox WHERE session_id = $1', [user.sessionId])).rows[0].n as number);
    expect(await eventually(outbox, (n) => n === 0, 20_000)).toBe(0);
    expect(await state.keys(`oidc:vault:{session:${user.sessionId}}:`)).toEqual([]);
    // Checked only now: spending it earlier would have rotated it at the OP.
    expect(await refreshAtOp(refreshToken, issuer)).toEqual({ status: 400, error: 'invalid_grant' });
  });
});
