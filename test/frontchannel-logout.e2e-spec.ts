import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, type Page, parseForm } from './support/browser';
import { freePort, stopDevOp } from './support/dev-op';
import { loginThroughOp, submitOpLogin } from './support/flows';
import { appUrl, e2e, jsonBody, type RunningApp, startApp, testState, vaultToken, withDb } from './support/app';
import { eventually, startOwnDevOp } from './support/op';

/**
 * Front-Channel Logout 1.0 against real development OPs: `default` (the suite's OP; the session cookie
 * decides), `fcl` (an OP of its own with this app's front-channel URI registered and no back-channel
 * logout, so only the front channel can end a session there) and `open` (an OP of its own whose
 * provider has the opt-in `frontchannelLogout.withoutCookie`). Users u161…u175.
 */
describe('Front-Channel Logout', () => {
  let running: RunningApp;
  let fclOp: ChildProcess;
  let openOp: ChildProcess;
  let fclIssuer: string;
  let openIssuer: string;
  const app = () => running.url;
  const frontchannelUri = () => `${appUrl(0)}/auth/oidc/frontchannel-logout/fcl`;

  beforeAll(async () => {
    const [fclPort, openPort] = [await freePort(), await freePort()];
    fclIssuer = `http://127.0.0.1:${fclPort}`;
    openIssuer = `http://127.0.0.1:${openPort}`;
    const ownOp = (port: number, issuer: string, id: string, extra: Record<string, string> = {}) =>
      startOwnDevOp(port, issuer, id, {
        DEV_IDP_REDIRECT_URIS: `${appUrl(0)}/auth/oidc/callback/${id}`,
        DEV_IDP_BACKCHANNEL_LOGOUT_URI: '',
        ...extra,
      });
    [fclOp, openOp] = await Promise.all([
      ownOp(fclPort, fclIssuer, 'fcl', {
        DEV_IDP_FRONTCHANNEL_LOGOUT_URI: frontchannelUri(),
        // Another app of the OP with a front-channel URI, which the users here never sign in to.
        DEV_IDP_EXTRA_CLIENTS: JSON.stringify([
          {
            client_id: 'other-app',
            client_secret: 'other-app-secret',
            redirect_uris: ['http://127.0.0.1:9/callback'],
            frontchannel_logout_uri: 'http://127.0.0.1:9/frontchannel-logout',
            frontchannel_logout_session_required: true,
            grant_types: ['authorization_code'],
            response_types: ['code'],
            token_endpoint_auth_method: 'client_secret_post',
          },
        ]),
      }),
      // sid is in the ID tokens of clients that registered a front-channel (or back-channel) URI.
      ownOp(openPort, openIssuer, 'open', { DEV_IDP_FRONTCHANNEL_LOGOUT_URI: `${appUrl(0)}/auth/oidc/frontchannel-logout/open` }),
    ]);
    const listed = (id: string, issuer: string, extra: Record<string, unknown> = {}) => ({
      id,
      issuer,
      clientId: e2e().clientId,
      clientSecret: e2e().clientSecret,
      redirectUri: `${appUrl(0)}/auth/oidc/callback/${id}`,
      ...extra,
    });
    running = await startApp({
      OIDC_PROVIDERS: JSON.stringify([listed('fcl', fclIssuer), listed('open', openIssuer, { frontchannelLogout: { withoutCookie: true } })]),
    });
  });

  afterAll(async () => {
    await running?.close();
    await Promise.all([fclOp, openOp].filter(Boolean).map((op) => stopDevOp(op)));
  });

  async function signInAt(provider: string, user: string, browser = new Browser()): Promise<Browser> {
    const page = await browser.follow(await browser.request(`${app()}/auth/oidc/login?provider=${provider}`));
    expect(page.status, page.text.slice(0, 200)).toBe(200);
    const callback = await submitOpLogin(browser, page, user, `pw-${user}`, app());
    expect(callback.status, callback.text).toBe(302);
    return browser;
  }

  async function sessionOf(browser: Browser): Promise<{ id: string; sid: string; issuer: string }> {
    const response = await browser.request(`${app()}/auth/session`);
    expect(response.status, response.text).toBe(200);
    return JSON.parse(response.text).session;
  }

  const isLive = async (browser: Browser) => (await browser.request(`${app()}/auth/session`)).status === 200;
  const revokedReason = (sessionId: string) =>
    withDb(async (db) => (await db.query(`SELECT revoked_reason FROM sessions WHERE id = $1`, [sessionId])).rows[0]?.revoked_reason as string | null);
  const frontchannelUrl = (path: string, query: Record<string, string>) => `${app()}${path}?${new URLSearchParams(query)}`;

  /** What the page answers, whatever happened: no body, no-store, framable by the OP only. */
  function expectEmptyPageFor(page: Page, opOrigin: string): void {
    expect(page.status, page.text).toBe(200);
    expect(page.text).toBe('');
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('content-security-policy')).toBe(`default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors ${opOrigin}`);
    expect(page.headers.get('x-frame-options')).toBeNull();
    expect(page.headers.get('set-cookie')).toBeNull();
  }

  describe('with the session cookie (provider default, no opt-in)', () => {
    it('ends the session of the browser that loads it when its (iss, sid) match; the answer is an empty no-store page framable by the OP only', async () => {
      const { browser } = await loginThroughOp(app(), 'u161');
      const session = await sessionOf(browser);
      const token = await browser.cookie(app(), 'session');
      const page = await browser.request(frontchannelUrl('/auth/oidc/frontchannel-logout', { iss: e2e().opUrl, sid: session.sid }));
      expectEmptyPageFor(page, e2e().opUrl);
      expect(await isLive(browser)).toBe(false);
      expect(await revokedReason(session.id)).toBe('frontchannel_logout');
      // Its cached tokens are dropped (through the outbox).
      expect(await eventually(() => vaultToken(testState(), session.id, 'refresh_token'), (t) => t === undefined)).toBeUndefined();
      // …and its outbox entry goes right after (its deletions are collected for a few milliseconds).
      const queued = () => withDb(async (db) => (await db.query(`SELECT 1 FROM session_token_outbox WHERE session_id = $1`, [session.id])).rowCount);
      expect(await eventually(queued, (n) => n === 0, 2_000)).toBe(0);
      // Audit line and metric; the logs hold neither the session token nor the sid.
      const audit = running.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'audit' && l.event === 'frontchannel_logout');
      expect(audit.at(-1)).toMatchObject({ provider: 'default', outcome: 'accepted', revokedSessions: 1, by: 'browser' });
      const metrics = await (await fetch(`${app()}/metrics`)).text();
      expect(metrics).toMatch(/oidc_frontchannel_logouts_total\{outcome="accepted",reason=""\} [1-9]/);
      expect(metrics).toMatch(/oidc_sessions_revoked_total\{reason="frontchannel_logout"\} [1-9]/);
      const logs = running.logs.join('\n');
      expect(logs).not.toContain(token as string);
      expect(logs).not.toContain(session.sid);
    });

    it("a browser whose session has another sid loads the URL: nothing ends, and the answer is the same", async () => {
      const { browser: alice } = await loginThroughOp(app(), 'u162');
      const { browser: bob } = await loginThroughOp(app(), 'u163');
      const aliceSession = await sessionOf(alice);
      expect((await sessionOf(bob)).sid).not.toBe(aliceSession.sid);
      const page = await bob.request(frontchannelUrl('/auth/oidc/frontchannel-logout/default', { iss: e2e().opUrl, sid: aliceSession.sid }));
      expectEmptyPageFor(page, e2e().opUrl);
      expect(await isLive(alice)).toBe(true);
      expect(await isLive(bob)).toBe(true);
    });

    it('without the cookie nothing ends (no opt-in), and the answer is the same', async () => {
      const { browser } = await loginThroughOp(app(), 'u164');
      const { sid } = await sessionOf(browser);
      const response = await fetch(frontchannelUrl('/auth/oidc/frontchannel-logout', { iss: e2e().opUrl, sid }));
      expectEmptyPageFor({ status: response.status, url: response.url, headers: response.headers, text: await response.text() }, e2e().opUrl);
      expect(await isLive(browser)).toBe(true);
    });

    it("a wrong, missing or repeated iss, or a missing, oversized or repeated sid: 400, nothing ends, nobody may frame the answer", async () => {
      const { browser } = await loginThroughOp(app(), 'u165');
      const { sid } = await sessionOf(browser);
      const cases: Array<[string, string]> = [
        [`iss=${encodeURIComponent(fclIssuer)}&sid=${sid}`, 'iss_mismatch'],
        [`iss=${encodeURIComponent(`${e2e().opUrl}/`)}&sid=${sid}`, 'iss_mismatch'],
        [`sid=${sid}`, 'iss_missing'],
        [`iss=${encodeURIComponent(e2e().opUrl)}`, 'sid_missing'],
        [`iss=${encodeURIComponent(e2e().opUrl)}&sid=`, 'sid_missing'],
        [`iss=${encodeURIComponent(e2e().opUrl)}&sid=${'a'.repeat(256)}`, 'sid_invalid'],
        [`iss=${encodeURIComponent(e2e().opUrl)}&sid=${sid}&sid=${sid}`, 'parameter_repeated'],
        [`iss=${encodeURIComponent(e2e().opUrl)}&iss=${encodeURIComponent(e2e().opUrl)}&sid=${sid}`, 'parameter_repeated'],
      ];
      for (const [query, reason] of cases) {
        const page = await browser.request(`${app()}/auth/oidc/frontchannel-logout?${query}`);
        expect(page.status, query).toBe(400);
        expect(JSON.parse(page.text).error, query).toBe('invalid_request');
        expect(page.headers.get('cache-control')).toBe('no-store');
        expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
        expect(await isLive(browser), query).toBe(true);
        const audit = running.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'audit' && l.event === 'frontchannel_logout');
        expect(audit.at(-1), query).toMatchObject({ outcome: 'rejected', reason });
      }
      // The same iss and sid at another provider's route: that provider's issuer is not this one.
      const elsewhere = await browser.request(frontchannelUrl('/auth/oidc/frontchannel-logout/fcl', { iss: e2e().opUrl, sid }));
      expect(elsewhere.status).toBe(400);
      const unknown = await browser.request(frontchannelUrl('/auth/oidc/frontchannel-logout/nope', { iss: e2e().opUrl, sid }));
      expect(unknown.status).toBe(400);
      expect(JSON.parse(unknown.text).error).toBe('unknown_provider');
      expect(await isLive(browser)).toBe(true);
    });
  });

  it('with the opt-in (provider open), no cookie: the live sessions of (iss, sid) end, no others', async () => {
    const first = await signInAt('open', 'u166');
    const second = await signInAt('open', 'u167');
    const other = await signInAt('open', 'u168');
    const { browser: atDefault } = await loginThroughOp(app(), 'u169');
    const target = await sessionOf(first);
    expect(target.issuer).toBe(openIssuer);
    // Two sessions of one OP session (as two apps' or a re-login's would be), and the same sid at another issuer.
    await withDb(async (db) => {
      await db.query(`UPDATE sessions SET oidc_sid = $1 WHERE id = ANY($2::uuid[])`, [target.sid, [(await sessionOf(second)).id, (await sessionOf(atDefault)).id]]);
    });
    const response = await fetch(frontchannelUrl('/auth/oidc/frontchannel-logout/open', { iss: openIssuer, sid: target.sid }));
    expectEmptyPageFor({ status: response.status, url: response.url, headers: response.headers, text: await response.text() }, openIssuer);
    expect(await isLive(first)).toBe(false);
    expect(await isLive(second)).toBe(false);
    expect(await isLive(other)).toBe(true);
    expect(await isLive(atDefault)).toBe(true);
    expect(await revokedReason(target.id)).toBe('frontchannel_logout');
    const audit = running.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'audit' && l.event === 'frontchannel_logout');
    expect(audit.at(-1)).toMatchObject({ provider: 'open', outcome: 'accepted', revokedSessions: 2, by: 'sid' });
  });

  it("through the dev OP's own logout page: the user confirms the sign-out there, the page frames this app's URI with iss and the sid, and loading it ends the session", async () => {
    const browser = await signInAt('fcl', 'u170');
    const session = await sessionOf(browser);
    expect(session.sid).toBeTruthy();

    // RP-initiated logout at the OP (as another app, or the OP's own link, would start it), with its confirmation page.
    const endSession = `${fclIssuer}/session/end?${new URLSearchParams({ client_id: e2e().clientId, post_logout_redirect_uri: `${app()}/logged-out` })}`;
    const confirmation = await browser.follow(await browser.request(endSession));
    expect(confirmation.status, confirmation.text.slice(0, 300)).toBe(200);
    const form = parseForm(confirmation.text, confirmation.url);
    const loggedOut = await browser.request(form.action, { form: { ...form.fields, logout: 'yes' } });
    expect(loggedOut.status, loggedOut.text.slice(0, 300)).toBe(200);
    expect(loggedOut.headers.get('content-type')).toContain('text/html');

    // One iframe: this app (other-app has a front-channel URI too, but was not part of this OP session).
    const frames = [...loggedOut.text.matchAll(/<iframe[^>]*\ssrc="([^"]*)"/g)].map((m) => new URL(htmlDecode(m[1])));
    expect(frames).toHaveLength(1);
    const [frame] = frames;
    expect(`${frame.origin}${frame.pathname}`).toBe(frontchannelUri());
    expect(Object.fromEntries(frame.searchParams)).toEqual({ iss: fclIssuer, sid: session.sid });
    expect(loggedOut.text).toMatch(/<iframe hidden /);
    // …then on to the post-logout redirect URI.
    expect(htmlDecode(/id="continue" href="([^"]*)"/.exec(loggedOut.text)?.[1] ?? '')).toBe(`${app()}/logged-out`);

    // No back-channel logout at this OP: the session is still live until the front channel says otherwise.
    expect(await isLive(browser)).toBe(true);
    // Loaded without the session cookie (a cross-site iframe), it ends nothing: this provider has no opt-in.
    expect((await fetch(frame.href)).status).toBe(200);
    expect(await isLive(browser)).toBe(true);
    // Loaded as the browser loads it (same-site here: the Lax session cookie goes along), it ends the session.
    expectEmptyPageFor(await browser.request(frame.href), fclIssuer);
    expect(await isLive(browser)).toBe(false);
    expect(await revokedReason(session.id)).toBe('frontchannel_logout');

    // The OP session is over too: signing in again shows the OP's form.
    const again = await browser.follow(await browser.request(`${app()}/auth/oidc/login?provider=fcl`));
    expect(again.status).toBe(200);
    expect(again.text).toContain('name="password"');
  });

  it("'No, stay signed in' at the OP: only the app that asked is logged out, and its front-channel URI is still framed", async () => {
    const browser = await signInAt('fcl', 'u171');
    const session = await sessionOf(browser);
    const endSession = `${fclIssuer}/session/end?${new URLSearchParams({ client_id: e2e().clientId, post_logout_redirect_uri: `${app()}/logged-out` })}`;
    const confirmation = await browser.follow(await browser.request(endSession));
    const form = parseForm(confirmation.text, confirmation.url);
    const answered = await browser.request(form.action, { form: form.fields });
    expect(answered.status, answered.text.slice(0, 300)).toBe(200);
    const frames = [...answered.text.matchAll(/<iframe[^>]*\ssrc="([^"]*)"/g)].map((m) => new URL(htmlDecode(m[1])));
    expect(frames.map((f) => Object.fromEntries(f.searchParams))).toEqual([{ iss: fclIssuer, sid: session.sid }]);
    expectEmptyPageFor(await browser.request(frames[0].href), fclIssuer);
    expect(await isLive(browser)).toBe(false);
  });

  it("a logout at an OP whose clients registered no front-channel URI still redirects at once (the suite's OP)", async () => {
    const { browser } = await loginThroughOp(app(), 'u172');
    const endSession = `${e2e().opUrl}/session/end?${new URLSearchParams({ client_id: e2e().clientId, post_logout_redirect_uri: `${app()}/logged-out` })}`;
    const confirmation = await browser.follow(await browser.request(endSession));
    const form = parseForm(confirmation.text, confirmation.url);
    const done = await browser.request(form.action, { form: { ...form.fields, logout: 'yes' } });
    expect(done.status).toBe(303);
    expect(done.location).toBe(`${app()}/logged-out`);
  });

  it('Swagger documents both routes: iss and sid, the empty text/html answer, the error statuses', async () => {
    const doc = await jsonBody(await fetch(`${app()}/docs-json`));
    for (const path of ['/auth/oidc/frontchannel-logout', '/auth/oidc/frontchannel-logout/{provider}']) {
      const operation = doc.paths[path].get;
      expect(Object.keys(operation.responses).sort(), path).toEqual(['200', '400', '503']);
      expect(Object.keys(operation.responses['200'].content), path).toEqual(['text/html']);
      expect(Object.keys(operation.responses['400'].content['application/json'].examples).sort(), path).toEqual(['invalid_request', 'unknown_provider']);
      const query = operation.parameters.filter((p: { in: string }) => p.in === 'query');
      expect(query.map((p: { name: string; required: boolean }) => [p.name, p.required]).sort(), path).toEqual([['iss', true], ['sid', true]]);
    }
  });

  it("does not touch the host app's own routes", async () => {
    const ping = await fetch(`${app()}/api/ping`);
    expect(ping.status).toBe(200);
    expect(ping.headers.get('content-security-policy')).toBeNull();
    const home = await fetch(`${app()}/`);
    expect(home.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(home.headers.get('content-security-policy')).not.toContain(e2e().opUrl);
  });
});

describe('Front-Channel Logout and the rate limit', () => {
  let limited: RunningApp;
  beforeAll(async () => {
    limited = await startApp({ OIDC_RATE_LIMIT: '4/19s' });
  });
  afterAll(async () => limited?.close());

  it('is not rate-limited: bogus requests from the same client cannot make the real logout fail', async () => {
    const { browser } = await loginThroughOp(limited.url, 'u173');
    const { sid } = JSON.parse((await browser.request(`${limited.url}/auth/session`)).text).session;
    const url = (iss: string) => `${limited.url}/auth/oidc/frontchannel-logout?${new URLSearchParams({ iss, sid })}`;
    for (let i = 0; i < 12; i++) expect((await browser.request(url('https://not-the-op.example'))).status).toBe(400);
    expect((await browser.request(`${limited.url}/auth/session`)).status).toBe(200);
    expect((await browser.request(url(e2e().opUrl))).status).toBe(200);
    expect((await browser.request(`${limited.url}/auth/session`)).status).toBe(401);
  });
});

function htmlDecode(value: string): string {
  return value.replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code))).replace(/&amp;/g, '&');
}
