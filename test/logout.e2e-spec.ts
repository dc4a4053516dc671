import { eventually, refreshAtOp } from './support/op';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, e2e, type RunningApp, startApp, testCipher, testState, vaultToken } from './support/app';
import type { Browser } from './support/browser';
import { endOpSession, loginThroughOp } from './support/flows';

interface Device {
  browser: Browser;
  sessionId: string;
  sid: string;
}

async function device(app: RunningApp, username: string): Promise<Device> {
  const { browser } = await loginThroughOp(app.url, username);
  const me = JSON.parse((await browser.request(`${app.url}/auth/session`)).text);
  return { browser, sessionId: me.session.id, sid: me.session.sid };
}

async function logout(app: RunningApp, d: Device, body: unknown = {}) {
  const page = await d.browser.request(`${app.url}/auth/oidc/logout`, { json: body });
  return { ...page, body: page.text ? JSON.parse(page.text) : undefined };
}

describe('RP-Initiated Logout', () => {
  let app: RunningApp;
  const state = testState();
  const secrets: string[] = [];

  beforeAll(async () => {
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'create' });
  });
  afterAll(async () => {
    // The logs of the whole run hold none of the id_tokens, refresh tokens or id_token_hints seen.
    const logs = app.logs.join('\n');
    expect(logs).toContain('logout.done');
    for (const secret of secrets) expect(logs).not.toContain(secret);
    expect(logs).not.toContain('id_token_hint=');
    expect(logs).not.toMatch(/eyJ[\w-]+\.eyJ/);
    await app.close();
    await state.close();
  });

  it('two devices of one user: each logout returns an endSessionUrl carrying that device\'s own id_token', async () => {
    const a = await device(app, 'u40');
    const b = await device(app, 'u40');
    expect(a.sid).not.toBe(b.sid);
    const idTokenA = (await vaultToken(state, a.sessionId, 'id_token')) as string;
    secrets.push(idTokenA);

    const outA = await logout(app, a);
    expect(outA.status).toBe(200);
    expect(outA.headers.get('cache-control')).toBe('no-store');
    expect(outA.headers.get('pragma')).toBe('no-cache');
    const urlA = new URL(outA.body.endSessionUrl);
    secrets.push(urlA.href);
    expect(`${urlA.origin}${urlA.pathname}`).toBe(`${e2e().opUrl}/session/end`);
    expect(urlA.searchParams.get('id_token_hint')).toBe(idTokenA);
    expect(decodeJwt(urlA.searchParams.get('id_token_hint') as string).sid).toBe(a.sid);
    expect(urlA.searchParams.get('post_logout_redirect_uri')).toBe(`${app.url}/logged-out`);
    expect(urlA.searchParams.get('client_id')).toBe(e2e().clientId);

    const outB = await logout(app, b);
    const hintB = new URL(outB.body.endSessionUrl).searchParams.get('id_token_hint') as string;
    secrets.push(hintB);
    expect(decodeJwt(hintB).sid).toBe(b.sid);
    expect(hintB).not.toBe(idTokenA);
  });

  it('following endSessionUrl in the device\'s OP cookie jar ends the OP session and lands on post_logout_redirect_uri', async () => {
    const d = await device(app, 'u41');
    const out = await logout(app, d);
    expect(out.headers.getSetCookie().some((c) => c.startsWith('session=;'))).toBe(true);
    const landed = await endOpSession(d.browser, out.body.endSessionUrl);
    expect(landed.location).toBe(`${app.url}/logged-out`);
    // The OP session is gone: a new login in the same browser shows the OP's login form again.
    const again = await d.browser.follow(await d.browser.request(`${app.url}/auth/oidc/login`));
    expect(again.status).toBe(200);
    expect(again.text).toContain('name="password"');
  });

  it('after logout the session answers 401, its tokens are gone from the state store, and the OP rejects its refresh token', async () => {
    const a = await device(app, 'u42');
    const b = await device(app, 'u42');
    const refreshA = (await vaultToken(state, a.sessionId, 'refresh_token')) as string;
    const refreshB = (await vaultToken(state, b.sessionId, 'refresh_token')) as string;
    secrets.push(refreshA, refreshB);
    expect((await logout(app, a)).status).toBe(200);
    expect((await a.browser.request(`${app.url}/auth/session`)).status).toBe(401);
    expect((await b.browser.request(`${app.url}/auth/session`)).status).toBe(200);
    expect(await state.exists(`oidc:vault:{session:${a.sessionId}}:id_token`, `oidc:vault:{session:${a.sessionId}}:refresh_token`)).toBe(0);
    const rejected = await eventually(() => refreshAtOp(refreshA), (r) => r.status === 400);
    expect(rejected).toEqual({ status: 400, error: 'invalid_grant' });
    // The other device's refresh token still works: the OP accepted these tokens until the logout.
    expect((await refreshAtOp(refreshB)).status).toBe(200);
  });

  it('everywhere revokes every session of the user and drops all their tokens', async () => {
    const devices = [await device(app, 'u43'), await device(app, 'u43'), await device(app, 'u43')];
    const refreshTokens = await Promise.all(devices.map(async (d) => (await vaultToken(state, d.sessionId, 'refresh_token')) as string));
    secrets.push(...refreshTokens);
    const other = await device(app, 'u44');
    const out = await logout(app, devices[0], { everywhere: true });
    expect(out.status).toBe(200);
    secrets.push(out.body.endSessionUrl);
    expect(decodeJwt(new URL(out.body.endSessionUrl).searchParams.get('id_token_hint') as string).sid).toBe(devices[0].sid);
    for (const d of devices) {
      expect((await d.browser.request(`${app.url}/auth/session`)).status).toBe(401);
      expect(await state.exists(`oidc:vault:{session:${d.sessionId}}:id_token`, `oidc:vault:{session:${d.sessionId}}:refresh_token`)).toBe(0);
    }
    expect((await other.browser.request(`${app.url}/auth/session`)).status).toBe(200);
    for (const refreshToken of refreshTokens) {
      expect(await eventually(() => refreshAtOp(refreshToken), (r) => r.status === 400)).toEqual({ status: 400, error: 'invalid_grant' });
    }
  });

  it('two concurrent logouts of one session yield exactly one endSessionUrl', async () => {
    const d = await device(app, 'u45');
    const results = await Promise.all([logout(app, d), logout(app, d), logout(app, d)]);
    const urls = results.filter((r) => r.status === 200 && r.body?.endSessionUrl);
    expect(urls).toHaveLength(1);
    secrets.push(urls[0].body.endSessionUrl);
    for (const r of results) expect([200, 401]).toContain(r.status);
  });

  it('a second logout of the same session is 401 and an unauthenticated logout is 401', async () => {
    const d = await device(app, 'u46');
    expect((await logout(app, d)).status).toBe(200);
    expect((await logout(app, d)).status).toBe(401);
    expect((await fetch(`${app.url}/auth/oidc/logout`, { method: 'POST' })).status).toBe(401);
  });

  it('a malformed body is 400 and changes nothing', async () => {
    const d = await device(app, 'u47');
    expect((await logout(app, d, { everywhere: 'yes' })).status).toBe(400);
    expect((await logout(app, d, { everywhere: true, extra: 1 })).status).toBe(400);
    expect((await d.browser.request(`${app.url}/auth/session`)).status).toBe(200);
    expect(await state.exists(`oidc:vault:{session:${d.sessionId}}:id_token`)).toBe(1);
  });
});

describe('RP-Initiated Logout switched off (no OIDC_POST_LOGOUT_REDIRECT_URI)', () => {
  let app: RunningApp;
  const state = testState();

  beforeAll(async () => {
    // Start from an empty vault, so that the scan below sees only what this app stored.
    await state.delete(await state.keys('oidc:vault:'));
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'create', OIDC_POST_LOGOUT_REDIRECT_URI: '' });
  });
  afterAll(async () => {
    await app.close();
    await state.close();
  });

  it('says why at startup, stores no id_token at login, and returns no URL', async () => {
    const line = app.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'rp_initiated_logout.disabled');
    expect(line).toMatchObject({ level: 'log', reason: 'OIDC_POST_LOGOUT_REDIRECT_URI is not set' });

    const d = await device(app, 'u48');
    expect(await state.exists(`oidc:vault:{session:${d.sessionId}}:refresh_token`)).toBe(1);
    // Scan every vault value written by this app: none of them decrypts to a JWT.
    const entries = await state.entries('oidc:vault:');
    expect(entries.map(([key]) => key)).toContain(`oidc:vault:{session:${d.sessionId}}:refresh_token`);
    for (const [key, value] of entries) {
      const [, owner, kind] = /^oidc:vault:\{(.+)\}:(\w+)$/.exec(key) ?? [];
      const plain = testCipher.decrypt(value, `${owner}:${kind}`);
      expect(kind).not.toBe('id_token');
      expect(plain).toBeTypeOf('string');
      expect(plain).not.toMatch(/^eyJ/);
    }
    const out = await logout(app, d);
    expect(out.status).toBe(200);
    expect(out.body).toEqual({});
    expect(out.headers.get('pragma')).toBe('no-cache');
    expect((await d.browser.request(`${app.url}/auth/session`)).status).toBe(401);
  });
});
