import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, parseForm } from './support/browser';
import { freePort, stopDevOp } from './support/dev-op';
import { authorizeAtOp, bearer, loginThroughOp, submitOpLogin } from './support/flows';
import { appUrl, e2e, jsonBody, type RunningApp, startApp, withDb } from './support/app';
import { logoutToken, logoutTokenOf, postLogoutTokenTo } from './support/logout-token';
import { startOwnDevOp } from './support/op';

/**
 * Two development OPs at once: `default` (the suite's OP, client_secret_post) and `partner` (its own
 * OP process, keys and client, which authenticates with private_key_jwt; both OPs offer PAR).
 * Users u121…u135.
 */
describe('several OpenID Providers', () => {
  let running: RunningApp;
  let partnerOp: ChildProcess;
  let partner: { issuer: string; clientId: string; jwksFile: string };
  const app = () => running.url;

  beforeAll(async () => {
    const port = await freePort();
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = 'partner-app-key';
    partner = { issuer: `http://127.0.0.1:${port}`, clientId: 'partner-app', jwksFile: join(e2e().workDir, 'partner-op-jwks.json') };
    partnerOp = await startOwnDevOp(port, partner.issuer, 'partner', {
      DEV_IDP_CLIENT_ID: partner.clientId,
      DEV_IDP_CLIENT_AUTH: 'private_key_jwt',
      DEV_IDP_CLIENT_JWKS: JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' }] }),
      DEV_IDP_REDIRECT_URIS: `${appUrl(0)}/auth/oidc/callback/partner`,
      DEV_IDP_BACKCHANNEL_LOGOUT_URI: `${appUrl(0)}/auth/oidc/backchannel-logout/partner`,
    });
    running = await startApp({
      OIDC_PROVIDER_NAME: 'Company SSO',
      OIDC_PROVIDERS: JSON.stringify([
        {
          id: 'partner',
          name: 'Partner Keycloak',
          issuer: partner.issuer,
          clientId: partner.clientId,
          clientAuth: 'private_key_jwt',
          privateKeyJwk: { ...privateKey.export({ format: 'jwk' }), kid, alg: 'ES256' },
          redirectUri: `${appUrl(0)}/auth/oidc/callback/partner`,
          postLogoutRedirectUri: `${appUrl(0)}/logged-out`,
        },
      ]),
    });
  });

  afterAll(async () => {
    await running?.close();
    if (partnerOp) await stopDevOp(partnerOp);
  });

  async function sessionOf(browser: Browser) {
    const response = await browser.request(`${app()}/auth/session`);
    expect(response.status, response.text).toBe(200);
    return JSON.parse(response.text).session as { id: string; provider: string; issuer: string; sid: string; acr: string | null; authTime: string | null };
  }

  async function isLive(browser: Browser): Promise<boolean> {
    return (await browser.request(`${app()}/auth/session`)).status === 200;
  }

  async function sessionCount(): Promise<number> {
    return withDb(async (db) => Number((await db.query(`SELECT count(*)::int AS n FROM sessions`)).rows[0].n));
  }

  it('GET /auth/oidc/providers lists both providers for a login page', async () => {
    const response = await fetch(`${app()}/auth/oidc/providers`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await jsonBody(response)).toEqual({
      providers: [
        { id: 'default', displayName: 'Company SSO', loginUrl: 'login?provider=default' },
        { id: 'partner', displayName: 'Partner Keycloak', loginUrl: 'login?provider=partner' },
      ],
    });
  });

  it('a user signs in with each provider; each session knows its provider (partner: private_key_jwt and PAR)', async () => {
    const atDefault = await loginThroughOp(app(), 'u121');
    expect(atDefault.callback.status).toBe(302);
    expect(await sessionOf(atDefault.browser)).toMatchObject({ provider: 'default', issuer: e2e().opUrl });

    const atPartner = new Browser();
    const start = await atPartner.request(`${app()}/auth/oidc/login?provider=partner`);
    // Pushed authorization request: only client_id and request_uri travel through the browser.
    const location = new URL(start.location as string);
    expect(location.origin).toBe(partner.issuer);
    expect([...location.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    const page = await atPartner.follow(start);
    const callback = await submitOpLogin(atPartner, page, 'u122', 'pw-u122', app());
    expect(callback.status, callback.text).toBe(302);
    expect(await sessionOf(atPartner)).toMatchObject({ provider: 'partner', issuer: partner.issuer });
  });

  it('an unknown provider or a malformed login parameter is a 400 before anything is stored', async () => {
    for (const [query, error] of [
      ['provider=nope', 'unknown_provider'],
      ['provider=partner&provider=default', 'unknown_provider'],
      ['max_age=-1', 'invalid_login_parameter'],
      ['max_age=abc', 'invalid_login_parameter'],
      ['prompt=none%20login', 'invalid_login_parameter'],
      ['prompt=bogus', 'invalid_login_parameter'],
      ['acr_values=a%22b', 'invalid_login_parameter'],
      ['ui_locales=%3Cscript%3E', 'invalid_login_parameter'],
    ]) {
      const response = await fetch(`${app()}/auth/oidc/login?${query}`, { redirect: 'manual' });
      expect(response.status, query).toBe(400);
      expect((await jsonBody(response)).error, query).toBe(error);
      expect(response.headers.getSetCookie().some((c) => c.startsWith('oidc_tx_')), query).toBe(false);
    }
  });

  it("a logout token signed by the partner and posted to default's endpoint is refused; at its own endpoint it ends the partner session", async () => {
    const browser = new Browser();
    const page = await browser.follow(await browser.request(`${app()}/auth/oidc/login?provider=partner`));
    await submitOpLogin(browser, page, 'u123', 'pw-u123', app());
    const { sid } = await sessionOf(browser);
    const token = await logoutTokenOf(partner, { sid });

    for (const path of ['/auth/oidc/backchannel-logout', '/auth/oidc/backchannel-logout/default']) {
      const refused = await postLogoutTokenTo(app(), path, token);
      expect(refused.status, path).toBe(400);
      expect((await jsonBody(refused)).error).toBe('invalid_request');
      expect(await isLive(browser)).toBe(true);
    }
    const unknown = await postLogoutTokenTo(app(), '/auth/oidc/backchannel-logout/nope', token);
    expect(unknown.status).toBe(400);
    // The refusals recorded nothing: the same token is still good at the right endpoint.
    expect((await postLogoutTokenTo(app(), '/auth/oidc/backchannel-logout/partner', token)).status).toBe(200);
    expect(await isLive(browser)).toBe(false);
  });

  it("a default token with a sid that also exists at the partner revokes only default's session", async () => {
    const atDefault = await loginThroughOp(app(), 'u124');
    const defaultSession = await sessionOf(atDefault.browser);
    const atPartner = new Browser();
    await submitOpLogin(atPartner, await atPartner.follow(await atPartner.request(`${app()}/auth/oidc/login?provider=partner`)), 'u125', 'pw-u125', app());
    const partnerSession = await sessionOf(atPartner);
    // Two OPs may well hand out the same sid: make it so.
    await withDb((db) => db.query(`UPDATE sessions SET oidc_sid = $1 WHERE id = $2`, [defaultSession.sid, partnerSession.id]));

    expect((await postLogoutTokenTo(app(), '/auth/oidc/backchannel-logout', await logoutToken({ sid: defaultSession.sid }))).status).toBe(200);
    expect(await isLive(atDefault.browser)).toBe(false);
    expect(await isLive(atPartner)).toBe(true);
    // …and the partner's own logout of that sid ends only the partner's.
    expect((await postLogoutTokenTo(app(), '/auth/oidc/backchannel-logout/partner', await logoutTokenOf(partner, { sid: defaultSession.sid }))).status).toBe(200);
    expect(await isLive(atPartner)).toBe(false);
  });

  it("mix-up: the partner's code and state replayed at default's callback create nothing, and the state is spent", async () => {
    const browser = new Browser();
    const page = await browser.follow(await browser.request(`${app()}/auth/oidc/login?provider=partner`));
    const form = parseForm(page.text, page.url);
    const afterLogin = await browser.request(form.action, { form: { ...form.fields, username: 'u126', password: 'pw-u126' } });
    const atCallback = await browser.follow(afterLogin, (url) => url.startsWith(`${app()}/auth/oidc/callback`));
    const partnerCallback = new URL(atCallback.location as string);
    expect(partnerCallback.pathname).toBe('/auth/oidc/callback/partner');
    const before = await sessionCount();

    const atDefault = await browser.request(`${app()}/auth/oidc/callback${partnerCallback.search}`);
    expect(atDefault.status).toBe(400);
    expect(JSON.parse(atDefault.text).error).toBe('provider_mismatch');
    // The refused callback cleared this browser's login cookie and spent the state: the right callback fails too.
    const again = await browser.request(partnerCallback.href);
    expect(again.status).toBe(400);
    expect(['invalid_state', 'login_session_missing']).toContain(JSON.parse(again.text).error);
    expect(await sessionCount()).toBe(before);
    expect(await browser.cookie(app(), 'session')).toBeUndefined();
  });

  it("mix-up: default's code and state replayed at the partner's callback create nothing", async () => {
    const { browser, callbackUrl } = await authorizeAtOp(app(), 'u127');
    const before = await sessionCount();
    const atPartner = await browser.request(`${app()}/auth/oidc/callback/partner${new URL(callbackUrl).search}`);
    expect(atPartner.status).toBe(400);
    expect(JSON.parse(atPartner.text).error).toBe('provider_mismatch');
    expect(await sessionCount()).toBe(before);
  });

  it('a forged or missing iss response parameter (RFC 9207) creates no session', async () => {
    for (const forge of [(q: URLSearchParams) => q.set('iss', partner.issuer), (q: URLSearchParams) => q.delete('iss')]) {
      const { browser, callbackUrl } = await authorizeAtOp(app(), 'u128');
      const url = new URL(callbackUrl);
      expect(url.searchParams.get('iss')).toBe(e2e().opUrl);
      forge(url.searchParams);
      const before = await sessionCount();
      const response = await browser.request(url.href);
      expect(response.status, response.text).toBe(400);
      expect(JSON.parse(response.text).error).toBe('code_exchange_failed');
      expect(await sessionCount()).toBe(before);
    }
  });

  it('max_age=0 forces a new authentication at the OP: its form comes back and auth_time moves', async () => {
    const first = await loginThroughOp(app(), 'u129');
    const firstAuth = (await sessionOf(first.browser)).authTime as string;
    expect(firstAuth).toBeTruthy();
    // Without max_age the OP's own session signs the browser in again without its form.
    const silent = await first.browser.follow(await first.browser.request(`${app()}/auth/oidc/login`), (url) => url.startsWith(`${app()}/auth/oidc/callback`));
    expect(silent.location).toContain('/auth/oidc/callback?');
    await new Promise((r) => setTimeout(r, 1100));
    const forced = await loginThroughOp(app(), 'u129', { browser: first.browser, params: { max_age: '0' } });
    expect(forced.callback.status).toBe(302);
    const secondAuth = (await sessionOf(first.browser)).authTime as string;
    expect(new Date(secondAuth).getTime()).toBeGreaterThan(new Date(firstAuth).getTime());
  });

  it('acr_values: a login below the level asked for is refused (403, no session); with the second factor the session carries the acr', async () => {
    const before = await sessionCount();
    const weak = await loginThroughOp(app(), 'u130', { params: { acr_values: 'urn:dev:loa:2' } });
    expect(weak.callback.status).toBe(403);
    expect(JSON.parse(weak.callback.text).error).toBe('acr_not_satisfied');
    expect(await sessionCount()).toBe(before);

    const strong = await loginThroughOp(app(), 'u130', { params: { acr_values: 'urn:dev:loa:2', prompt: 'login' }, form: { mfa: 'on' } });
    expect(strong.callback.status).toBe(302);
    expect(await sessionOf(strong.browser)).toMatchObject({ acr: 'urn:dev:loa:2' });
  });

  it('step-up: a route with @RequireAuthentication answers 401 step_up_required with a login URL; after it, 200', async () => {
    const { browser, sessionToken } = await loginThroughOp(app(), 'u132');
    const refused = await fetch(`${app()}/api/step-up`, { headers: bearer(sessionToken) });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer error="insufficient_user_authentication", acr_values="urn:dev:loa:2", max_age=600');
    const body = await jsonBody(refused);
    expect(body).toMatchObject({ error: 'step_up_required', stepUp: { acrValues: ['urn:dev:loa:2'], maxAge: 600 } });
    const loginUrl = new URL(body.stepUp.loginUrl);
    expect(`${loginUrl.origin}${loginUrl.pathname}`).toBe(`${app()}/auth/oidc/login`);
    expect(Object.fromEntries(loginUrl.searchParams)).toEqual({ provider: 'default', prompt: 'login', max_age: '600', acr_values: 'urn:dev:loa:2' });
    // The session is still good for everything else.
    expect((await fetch(`${app()}/auth/session`, { headers: bearer(sessionToken) })).status).toBe(200);

    // The frontend sends the browser to loginUrl (plus return_to); the OP asks again, with the second factor.
    const params = Object.fromEntries(loginUrl.searchParams);
    const stepped = await loginThroughOp(app(), 'u132', { browser, params: { ...params, return_to: '/api/step-up' }, form: { mfa: 'on' } });
    expect(stepped.callback.location).toMatch(/\/api\/step-up$/);
    const allowed = await browser.request(`${app()}/api/step-up`);
    expect(allowed.status, allowed.text).toBe(200);
    expect(JSON.parse(allowed.text)).toMatchObject({ ok: true, acr: 'urn:dev:loa:2' });
    // The step-up login replaced the weaker session of this browser.
    expect((await fetch(`${app()}/auth/session`, { headers: bearer(sessionToken) })).status).toBe(401);

  });

  it('another site cannot make a signed-in browser sign in again (a hostile provider would swap its user): it is sent to return_to', async () => {
    const { browser } = await loginThroughOp(app(), 'u133');
    const before = await sessionOf(browser);
    const crossSite = await browser.request(`${app()}/auth/oidc/login?provider=partner&return_to=%2Forders`, { headers: { 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.status).toBe(302);
    expect(crossSite.location).toBe(`${app()}/orders`);
    expect(crossSite.headers.getSetCookie().some((c) => c.startsWith('oidc_tx_'))).toBe(false);
    expect((await sessionOf(browser)).id).toBe(before.id);
    // From the app itself, or from another site without a session, a login starts as usual.
    for (const headers of [{ 'sec-fetch-site': 'same-origin' }, { 'sec-fetch-site': 'none' }]) {
      expect((await browser.request(`${app()}/auth/oidc/login?provider=partner`, { headers })).location).toContain(partner.issuer);
    }
    expect((await new Browser().request(`${app()}/auth/oidc/login?provider=partner`, { headers: { 'sec-fetch-site': 'cross-site' } })).location).toContain(partner.issuer);
  });
});

describe('a provider whose configured issuer is spelled differently from what its OP announces', () => {
  it('is refused at discovery (logged), so no session is ever made that its logouts could not reach', async () => {
    const running = await startApp({ OIDC_ISSUER: `${e2e().opUrl}/` }, 1);
    try {
      const login = await fetch(`${running.url}/auth/oidc/login`, { redirect: 'manual' });
      expect(login.status).toBe(503);
      expect((await jsonBody(login)).error).toBe('provider_unavailable');
      expect(running.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'discovery.issuer_mismatch')).toMatchObject({ issuer: `${e2e().opUrl}/`, announced: e2e().opUrl });
      expect(await jsonBody(await fetch(`${running.url}/health`))).toMatchObject({ discovery: 'down', providers: { default: 'down' } });
    } finally {
      await running.close();
    }
  });
});
