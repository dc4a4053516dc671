import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2e, jsonBody, needsRedis, type RunningApp, startApp, startAppProcess, testState, vaultToken, withDb } from './support/app';
import { freePort } from './support/dev-op';
import { bearer, loginThroughOp } from './support/flows';
import { logoutToken, postLogoutToken } from './support/logout-token';
import { eventually, refreshAtOp } from './support/op';
import { TcpProxy } from './support/tcp-proxy';

describe.skipIf(!needsRedis('Redis unreachable'))('Redis unreachable', () => {
  let app: RunningApp;
  let second: RunningApp;
  let proxy: TcpProxy;
  const state = testState();

  beforeAll(async () => {
    const redisUrl = new URL(e2e().redisUrl as string);
    proxy = new TcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379), await freePort());
    await proxy.start();
    redisUrl.host = `127.0.0.1:${proxy.port}`;
    const env = { OIDC_UNLINKED_IDENTITY: 'create', REDIS_URL: redisUrl.href, OIDC_OUTBOX_RETRY_INTERVAL: '1s', REDIS_COMMAND_TIMEOUT: '1s' };
    app = await startApp(env, 0);
    second = await startAppProcess(env, 1);
  });
  afterAll(async () => {
    await second.close();
    await app.close();
    await proxy.stop();
    await state.close();
  });

  it('a back-channel logout is applied at once on every instance, and the tokens are dropped and revoked once Redis is back', async () => {
    const victim = await loginThroughOp(app.url, 'u58');
    const victimSession = JSON.parse((await victim.browser.request(`${app.url}/auth/session`)).text).session;
    const bystander = await loginThroughOp(app.url, 'u61');
    const refreshToken = (await vaultToken(state, victimSession.id, 'refresh_token')) as string;
    expect(refreshToken).toEqual(expect.any(String));
    await proxy.stop();

    // What needs Redis answers 503 without internals.
    const login = await fetch(`${app.url}/auth/oidc/login`, { redirect: 'manual' });
    expect(login.status).toBe(503);
    expect(await jsonBody(login)).toEqual({ error: 'service_unavailable', message: 'A backing service is unavailable; retry later' });

    // The logout is recorded in Postgres: 200, and the session is dead on both instances at once.
    const bcl = await postLogoutToken(app.url, await logoutToken({ sid: victimSession.sid }));
    expect(bcl.status).toBe(200);
    expect((await fetch(`${app.url}/auth/session`, { headers: bearer(victim.sessionToken) })).status).toBe(401);
    expect((await fetch(`${second.url}/auth/session`, { headers: bearer(victim.sessionToken) })).status).toBe(401);
    expect(await withDb(async (db) => (await db.query('SELECT count(*)::int AS n FROM session_token_outbox WHERE session_id = $1', [victimSession.id])).rows[0].n)).toBe(1);
    // Sessions live in Postgres: other users' authenticated reads still work.
    expect((await fetch(`${second.url}/auth/session`, { headers: bearer(bystander.sessionToken) })).status).toBe(200);
    const health = await fetch(`${app.url}/health`);
    expect(health.status).toBe(503);
    expect(await jsonBody(health)).toMatchObject({ status: 'degraded', stateStore: 'down', stateStoreKind: 'redis', postgres: 'up' });
    // Still in the vault (Redis was unreachable), but nothing can read it: the session is not live.
    expect(await vaultToken(state, victimSession.id, 'refresh_token')).toBe(refreshToken);

    await proxy.start();
    // The outbox job drops the revoked session's tokens and revokes its refresh token at the OP.
    const keys = await eventually(() => state.keys(`oidc:vault:{session:${victimSession.id}}:`), (k) => k.length === 0, 15_000);
    expect(keys).toEqual([]);
    expect(await eventually(() => refreshAtOp(refreshToken), (r) => r.status === 400, 5_000)).toEqual({ status: 400, error: 'invalid_grant' });
    const queued = () => withDb(async (db) => (await db.query('SELECT count(*)::int AS n FROM session_token_outbox WHERE session_id = $1', [victimSession.id])).rows[0].n as number);
    expect(await eventually(queued, (n) => n === 0, 2_000)).toBe(0);
    expect((await fetch(`${app.url}/auth/session`, { headers: bearer(bystander.sessionToken) })).status).toBe(200);
  });

  it('a Redis that hangs (connected, never answers): commands time out and requests answer 503 instead of waiting', async () => {
    expect((await fetch(`${app.url}/auth/oidc/login`, { redirect: 'manual' })).status).toBe(302);
    proxy.stall();
    // Without the adapter's commandTimeout this request would wait for as long as Redis hangs.
    const started = Date.now();
    const login = await fetch(`${app.url}/auth/oidc/login`, { redirect: 'manual', signal: AbortSignal.timeout(15_000) });
    expect(login.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(4_000); // REDIS_COMMAND_TIMEOUT=1s, one retry at most
    expect(await jsonBody(login)).toEqual({ error: 'service_unavailable', message: 'A backing service is unavailable; retry later' });

    proxy.resume();
    let again = await fetch(`${app.url}/auth/oidc/login`, { redirect: 'manual' });
    for (let i = 0; i < 30 && again.status !== 302; i++) {
      await new Promise((r) => setTimeout(r, 200));
      again = await fetch(`${app.url}/auth/oidc/login`, { redirect: 'manual' });
    }
    expect(again.status).toBe(302);
  });
});

describe.skipIf(!needsRedis('a pending bind and a back-channel logout while Redis is down'))('a pending bind and a back-channel logout while Redis is down', () => {
  let app: RunningApp;
  let proxy: TcpProxy;

  beforeAll(async () => {
    const redisUrl = new URL(e2e().redisUrl as string);
    proxy = new TcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379), await freePort());
    await proxy.start();
    redisUrl.host = `127.0.0.1:${proxy.port}`;
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'bind', REDIS_URL: redisUrl.href, REDIS_COMMAND_TIMEOUT: '1s' });
  });
  afterAll(async () => {
    await app.close();
    await proxy.stop();
  });

  it('the logout (answered 200 without Redis) still stops the bind from completing once Redis is back', async () => {
    const { browser, callback } = await loginThroughOp(app.url, 'u111');
    const token = new URL(callback.location as string).searchParams.get('token') as string;
    expect((await browser.request(`${app.url}/auth/oidc/bind?token=${token}`)).status).toBe(200);
    await proxy.stop();
    expect((await postLogoutToken(app.url, await logoutToken({ sub: 'u111' }))).status).toBe(200);
    await proxy.start();
    const late = await eventually(
      () => browser.request(`${app.url}/auth/oidc/bind/create`, { json: { token } }),
      (page) => page.status !== 503,
      10_000,
    );
    expect(late.status).toBe(410);
    expect(JSON.parse(late.text).message).toMatch(/signed out at the OpenID Provider/);
    expect(await withDb(async (db) => (await db.query(`SELECT count(*)::int AS n FROM sessions WHERE subject = 'u111'`)).rows[0].n)).toBe(0);
  });
});
