import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2e, jsonBody, type RunningApp, startApp } from './support/app';
import { freePort } from './support/dev-op';
import { bearer, loginThroughOp } from './support/flows';
import { logoutToken, postLogoutToken } from './support/logout-token';
import { TcpProxy } from './support/tcp-proxy';

describe('Redis unreachable', () => {
  let app: RunningApp;
  let proxy: TcpProxy;

  beforeAll(async () => {
    const redisUrl = new URL(e2e().redisUrl);
    proxy = new TcpProxy(redisUrl.hostname, Number(redisUrl.port || 6379), await freePort());
    await proxy.start();
    redisUrl.host = `127.0.0.1:${proxy.port}`;
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'create', REDIS_URL: redisUrl.href });
  });
  afterAll(async () => {
    await app.close();
    await proxy.stop();
  });

  it('answers 503 where Redis is needed, keeps Postgres-only routes working, and recovers', async () => {
    const { sessionToken, browser } = await loginThroughOp(app.url, 'u58');
    const sid = JSON.parse((await browser.request(`${app.url}/auth/session`)).text).session.sid;
    await proxy.stop();

    const login = await fetch(`${app.url}/auth/oidc/login`, { redirect: 'manual' });
    expect(login.status).toBe(503);
    expect(await jsonBody(login)).toEqual({ error: 'service_unavailable', message: 'A backing service is unavailable; retry later' });
    const token = await logoutToken({ sid });
    const bcl = await postLogoutToken(app.url, token);
    expect(bcl.status).toBe(503);
    expect((await jsonBody(bcl)).error).toBe('temporarily_unavailable');
    // Sessions live in Postgres: authenticated reads still work.
    expect((await fetch(`${app.url}/auth/session`, { headers: bearer(sessionToken) })).status).toBe(200);
    const health = await fetch(`${app.url}/health`);
    expect(health.status).toBe(503);
    expect(await jsonBody(health)).toMatchObject({ status: 'degraded', redis: 'down', postgres: 'up' });

    await proxy.start();
    // The OP's retry of the same logout token succeeds once Redis is back.
    let retried = await postLogoutToken(app.url, token);
    for (let i = 0; i < 30 && retried.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 200));
      retried = await postLogoutToken(app.url, token);
    }
    expect(retried.status).toBe(200);
    expect((await fetch(`${app.url}/auth/session`, { headers: bearer(sessionToken) })).status).toBe(401);
  });
});
