import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../src/oidc/crypto/secrets';
import { OIDC_ERROR_STATUS } from '../src/oidc/errors/oidc-error';
import { Browser } from './support/browser';
import { authorizeAtOp, bearer, loginThroughOp, submitOpLogin } from './support/flows';
import { decodeJwt, e2e, type RunningApp, startApp, testState, vaultToken, withDb, jsonBody } from './support/app';

async function countSessions(subject: string): Promise<number> {
  return withDb(async (db) => Number((await db.query('SELECT count(*) FROM sessions WHERE subject = $1', [subject])).rows[0].count));
}

describe('login (authorization code + PKCE) against the development OP', () => {
  let running: RunningApp;
  const state = testState();

  beforeAll(async () => {
    running = await startApp({ OIDC_UNLINKED_IDENTITY: 'create' });
  });
  afterAll(async () => {
    await running.close();
    await state.close();
  });

  it('a full login gives a working session (cookie and Bearer) whose sid comes from the verified ID token', async () => {
    const { browser, callback, sessionToken } = await loginThroughOp(running.url, 'u1', { returnTo: '/dashboard?tab=1' });
    expect(callback.status).toBe(302);
    expect(callback.location).toBe(`${running.url}/dashboard?tab=1`);
    expect(sessionToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const setCookie = callback.headers.getSetCookie().find((c) => c.startsWith('session='));
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);

    const viaCookie = await browser.request(`${running.url}/auth/session`);
    expect(viaCookie.status).toBe(200);
    const body = JSON.parse(viaCookie.text);
    expect(body.user).toMatchObject({ email: 'u1@example.com', displayName: 'User 1' });
    expect(body.session).toMatchObject({ issuer: expect.stringMatching(/^http:\/\/127\.0\.0\.1/), subject: 'u1' });
    expect(body.session.sid).toEqual(expect.any(String));

    const idToken = await vaultToken(state, body.session.id, 'id_token');
    expect(idToken).toBeDefined();
    expect(decodeJwt(idToken as string).sid).toBe(body.session.sid);
    expect(await vaultToken(state, body.session.id, 'refresh_token')).toEqual(expect.any(String));

    const viaBearer = await fetch(`${running.url}/auth/session`, { headers: bearer(sessionToken) });
    expect(viaBearer.status).toBe(200);
    expect((await jsonBody(viaBearer)).session.id).toBe(body.session.id);

    // Only a hash of the session token is stored.
    const stored = await withDb((db) => db.query('SELECT token_hash FROM sessions WHERE id = $1', [body.session.id]));
    expect(stored.rows[0].token_hash).toBe(sha256(sessionToken as string));
  });

  it('a second login from a second cookie jar gives a second session with a different sid', async () => {
    const first = await loginThroughOp(running.url, 'u2');
    const second = await loginThroughOp(running.url, 'u2');
    const a = JSON.parse((await first.browser.request(`${running.url}/auth/session`)).text).session;
    const b = JSON.parse((await second.browser.request(`${running.url}/auth/session`)).text).session;
    expect(a.id).not.toBe(b.id);
    expect(a.sid).not.toBe(b.sid);
    const list = JSON.parse((await first.browser.request(`${running.url}/auth/sessions`)).text).sessions;
    expect(list.map((s: { id: string }) => s.id).sort()).toEqual([a.id, b.id].sort());
    expect(list.find((s: { id: string }) => s.id === a.id).current).toBe(true);
    // Each session keeps the User-Agent it signed in with (Node's fetch sends "node").
    expect(list.map((s: { userAgent: string | null }) => s.userAgent)).toEqual(['node', 'node']);
  });

  it('replaying the callback (same state) is refused and creates no session', async () => {
    const { browser, callbackUrl } = await authorizeAtOp(running.url, 'u3');
    const txCookie = (await browser.jar.getCookies(callbackUrl)).find((c) => c.key.startsWith('oidc_tx_'));
    expect(txCookie).toBeDefined();
    expect((await browser.request(callbackUrl)).status).toBe(302);
    expect(await countSessions('u3')).toBe(1);
    // The callback cleared the binding cookie: a plain replay is not from a login in flight.
    const replay = await browser.request(callbackUrl);
    expect(replay.status).toBe(400);
    expect(JSON.parse(replay.text).error).toBe('login_session_missing');
    // Even with the original binding cookie put back, the state was consumed once and is gone.
    await browser.jar.setCookie(`${txCookie?.key}=${txCookie?.value}; Path=/auth/oidc/callback`, callbackUrl);
    const replayWithCookie = await browser.request(callbackUrl);
    expect(replayWithCookie.status).toBe(400);
    expect(JSON.parse(replayWithCookie.text).error).toBe('invalid_state');
    expect(await countSessions('u3')).toBe(1);
  });

  it('two logins started in two tabs of one browser both complete', async () => {
    const browser = new Browser();
    const first = await browser.follow(await browser.request(`${running.url}/auth/oidc/login?return_to=/one`));
    const second = await browser.follow(await browser.request(`${running.url}/auth/oidc/login?return_to=/two`));
    const secondDone = await submitOpLogin(browser, second, 'u13', 'pw-u13', running.url);
    expect(secondDone.location).toBe(`${running.url}/two`);
    const firstDone = await submitOpLogin(browser, first, 'u13', 'pw-u13', running.url);
    expect(firstDone.location).toBe(`${running.url}/one`);
  });

  it('a callback without the browser-binding cookie is refused and creates no session', async () => {
    const { callbackUrl } = await authorizeAtOp(running.url, 'u4');
    const response = await fetch(callbackUrl, { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect((await jsonBody(response)).error).toBe('login_session_missing');
    expect(await countSessions('u4')).toBe(0);
  });

  it('a callback from another browser (other binding cookie) is refused and creates no session', async () => {
    const { callbackUrl } = await authorizeAtOp(running.url, 'u5');
    const attacker = new Browser();
    await attacker.request(`${running.url}/auth/oidc/login`);
    const response = await attacker.request(callbackUrl);
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).error).toBe('login_session_missing');
    // A binding cookie of the attacker's own, renamed for the victim's state, does not match either.
    const own = (await attacker.jar.getCookies(callbackUrl)).find((c) => c.key.startsWith('oidc_tx_'));
    const victimCookie = `oidc_tx_${sha256(new URL(callbackUrl).searchParams.get('state') as string).slice(0, 16)}`;
    await attacker.jar.setCookie(`${victimCookie}=${own?.value}; Path=/auth/oidc/callback`, callbackUrl);
    const forgedBinding = await attacker.request(callbackUrl);
    expect(forgedBinding.status).toBe(400);
    expect(JSON.parse(forgedBinding.text).error).toBe('invalid_state');
    expect(await countSessions('u5')).toBe(0);
  });

  it('a forged state is refused and creates no session', async () => {
    const { browser, callbackUrl } = await authorizeAtOp(running.url, 'u6');
    const forged = new URL(callbackUrl);
    const forgedState = 'forged-state-value-0123456789abcdef';
    forged.searchParams.set('state', forgedState);
    const response = await browser.request(forged.href);
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).error).toBe('login_session_missing');
    // With this browser's real binding value under the forged state's cookie name: still no such state.
    const real = (await browser.jar.getCookies(callbackUrl)).find((c) => c.key.startsWith('oidc_tx_'));
    await browser.jar.setCookie(`oidc_tx_${sha256(forgedState).slice(0, 16)}=${real?.value}; Path=/auth/oidc/callback`, callbackUrl);
    const withCookie = await browser.request(forged.href);
    expect(withCookie.status).toBe(400);
    expect(JSON.parse(withCookie.text).error).toBe('invalid_state');
    // The real state is still usable by its own browser: the forgery consumed nothing.
    expect((await browser.request(callbackUrl)).status).toBe(302);
    expect(await countSessions('u6')).toBe(1);
  });

  it('error=access_denied from the OP (user cancels) ends cleanly with no session', async () => {
    const browser = new Browser();
    const loginPage = await browser.follow(await browser.request(`${running.url}/auth/oidc/login`));
    const uid = /\/interaction\/([\w-]+)\/login/.exec(loginPage.text)?.[1];
    const cancelled = await browser.follow(await browser.request(`${new URL(loginPage.url).origin}/interaction/${uid}/abort`), (url) =>
      url.startsWith(`${running.url}/auth/oidc/callback`),
    );
    expect(cancelled.location).toContain('error=access_denied');
    const response = await browser.request(cancelled.location as string);
    expect(response.status).toBe(403);
    expect(JSON.parse(response.text)).toEqual({ error: 'access_denied', message: 'The OpenID Provider answered: access_denied' });
    expect(await browser.cookie(running.url, 'session')).toBeUndefined();
  });

  it.each(['//evil.com', '/\\evil.com', 'https://evil.com/', '/%2F%2Fevil.com', 'javascript:alert(1)'])(
    'refuses the hostile return_to %j before going to the OP',
    async (returnTo) => {
      const response = await fetch(`${running.url}/auth/oidc/login?return_to=${encodeURIComponent(returnTo)}`, { redirect: 'manual' });
      expect(response.status).toBe(400);
      expect((await jsonBody(response)).error).toBe('invalid_return_to');
    },
  );

  it('the OP advertises PAR, so the login pushes its request first: the redirect carries only client_id and request_uri', async () => {
    const response = await fetch(`${running.url}/auth/oidc/login`, { redirect: 'manual' });
    const location = new URL(response.headers.get('location') as string);
    expect([...location.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    expect(location.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    expect(response.headers.getSetCookie().find((c) => c.startsWith('oidc_tx_'))).toMatch(/HttpOnly/i);
  });

  it('with OIDC_PAR=off the login redirect carries PKCE S256, state and nonce, and sets a short-lived HttpOnly binding cookie', async () => {
    const parOff = await startApp({ OIDC_PAR: 'off' }, 1);
    const response = await fetch(`${parOff.url}/auth/oidc/login`, { redirect: 'manual' }).finally(() => parOff.close());
    const location = new URL(response.headers.get('location') as string);
    expect(location.searchParams.has('request_uri')).toBe(false);
    expect(location.searchParams.get('code_challenge_method')).toBe('S256');
    expect(location.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(location.searchParams.get('state')).toBeTruthy();
    expect(location.searchParams.get('nonce')).toBeTruthy();
    const tx = response.headers.getSetCookie().find((c) => c.startsWith('oidc_tx_'));
    expect(tx).toMatch(/HttpOnly/i);
    expect(tx).toMatch(/Max-Age=600/);
    expect(tx).toMatch(/Path=\/auth\/oidc\/callback/);
  });

  it('revoking one of my sessions makes it answer 401 at once; a foreign or unknown id is 404', async () => {
    const one = await loginThroughOp(running.url, 'u7');
    const two = await loginThroughOp(running.url, 'u7');
    const twoId = JSON.parse((await two.browser.request(`${running.url}/auth/session`)).text).session.id;
    const other = await loginThroughOp(running.url, 'u8');
    expect((await other.browser.request(`${running.url}/auth/sessions/${twoId}`, { method: 'DELETE' })).status).toBe(404);
    expect((await one.browser.request(`${running.url}/auth/sessions/not-a-uuid`, { method: 'DELETE' })).status).toBe(400);
    expect((await one.browser.request(`${running.url}/auth/sessions/${twoId}`, { method: 'DELETE' })).status).toBe(204);
    expect((await two.browser.request(`${running.url}/auth/session`)).status).toBe(401);
    expect((await one.browser.request(`${running.url}/auth/session`)).status).toBe(200);
    expect(await state.exists(`oidc:vault:{session:${twoId}}:refresh_token`)).toBe(0);
  });

  it('no state-store value holds a token in clear, and no log line holds a token, code or cookie', async () => {
    const { browser, sessionToken } = await loginThroughOp(running.url, 'u9');
    const sessionId = JSON.parse((await browser.request(`${running.url}/auth/session`)).text).session.id;
    const idToken = (await vaultToken(state, sessionId, 'id_token')) as string;
    const refreshToken = (await vaultToken(state, sessionId, 'refresh_token')) as string;
    expect(idToken).toMatch(/^eyJ/);
    expect(refreshToken.length).toBeGreaterThan(10);

    const entries = await state.entries('');
    expect(entries.length).toBeGreaterThan(0);
    for (const [key, value] of entries) {
      expect(value, key).not.toContain(idToken);
      expect(value, key).not.toContain(refreshToken);
      expect(value, key).not.toContain(sessionToken);
      expect(value, key).not.toMatch(/eyJ[\w-]+\.eyJ/);
    }
    const logs = running.logs.join('\n');
    expect(logs).toContain('login.success');
    expect(logs).not.toContain(idToken);
    expect(logs).not.toContain(refreshToken);
    expect(logs).not.toContain(sessionToken);
    expect(logs).not.toMatch(/eyJ[\w-]+\.eyJ/);
    expect(logs).not.toMatch(/code=[\w-]{10,}/);
  });

  it('an iss response parameter that is not the issuer is refused and creates no session', async () => {
    const { browser, callbackUrl } = await authorizeAtOp(running.url, 'u10');
    const tampered = new URL(callbackUrl);
    expect(tampered.searchParams.get('iss')).toBeTruthy();
    tampered.searchParams.set('iss', 'https://evil.example.com');
    const response = await browser.request(tampered.href);
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text).error).toBe('code_exchange_failed');
    expect(await countSessions('u10')).toBe(0);
  });

  it('a vault value copied under another session\'s key fails to decrypt and is treated as missing (and logged)', async () => {
    const a = await loginThroughOp(running.url, 'u11');
    const b = await loginThroughOp(running.url, 'u11');
    const idA = JSON.parse((await a.browser.request(`${running.url}/auth/session`)).text).session.id;
    const idB = JSON.parse((await b.browser.request(`${running.url}/auth/session`)).text).session.id;
    await state.set(`oidc:vault:{session:${idB}}:id_token`, (await state.get(`oidc:vault:{session:${idA}}:id_token`)) as string, 60_000);
    const out = await b.browser.request(`${running.url}/auth/oidc/logout`, { json: {} });
    expect(out.status).toBe(200);
    expect(JSON.parse(out.text)).toEqual({});
    expect(running.logs.some((l) => l.includes('"vault.undecryptable"') && l.includes(idB))).toBe(true);
  });

  it('GET /health reports Postgres, the state store and discovery; Swagger lists every route', async () => {
    const health = await fetch(`${running.url}/health`);
    expect(health.status).toBe(200);
    expect(await jsonBody(health)).toEqual({ status: 'ok', postgres: 'up', stateStore: 'up', stateStoreKind: e2e().stateStore, discovery: 'up', providers: { default: 'up' } });
    expect(running.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'state_store.selected')).toMatchObject({ kind: e2e().stateStore });
    const doc = await jsonBody(await fetch(`${running.url}/docs-json`));
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/api/ping',
        '/api/step-up',
        '/api/userinfo',
        '/auth/oidc/backchannel-logout',
        '/auth/oidc/backchannel-logout/{provider}',
        '/auth/oidc/callback/{provider}',
        '/auth/oidc/frontchannel-logout',
        '/auth/oidc/frontchannel-logout/{provider}',
        '/auth/oidc/providers',
        '/auth/oidc/bind',
        '/auth/oidc/bind/confirm',
        '/auth/oidc/bind/create',
        '/auth/oidc/callback',
        '/auth/oidc/link',
        '/auth/oidc/login',
        '/auth/oidc/logout',
        '/auth/identities',
        '/auth/identities/{id}',
        '/auth/session',
        '/auth/sessions',
        '/auth/sessions/{id}',
        '/health',
        '/health/live',
        '/health/ready',
        '/metrics',
      ].sort(),
    );
    const statuses = (path: string, method: string) => Object.keys(doc.paths[path][method].responses).sort();
    expect(statuses('/auth/oidc/login', 'get')).toEqual(['302', '400', '429', '503']);
    expect(statuses('/auth/oidc/callback', 'get')).toEqual(['302', '400', '401', '403', '409', '429', '503']);
    expect(statuses('/auth/oidc/callback/{provider}', 'get')).toEqual(['302', '400', '401', '403', '409', '429', '503']);
    expect(statuses('/auth/oidc/backchannel-logout/{provider}', 'post')).toEqual(['200', '400', '429', '503']);
    expect(statuses('/auth/oidc/providers', 'get')).toEqual(['200']);
    expect(statuses('/auth/oidc/frontchannel-logout', 'get')).toEqual(['200', '400', '503']);
    expect(statuses('/auth/oidc/frontchannel-logout/{provider}', 'get')).toEqual(['200', '400', '503']);
    expect(statuses('/auth/session', 'get')).toEqual(['200', '401', '503']);
    expect(statuses('/auth/sessions', 'get')).toEqual(['200', '401', '503']);
    expect(statuses('/auth/sessions/{id}', 'delete')).toEqual(['204', '400', '401', '403', '404', '415', '503']);
    expect(statuses('/auth/oidc/link', 'get')).toEqual(['302', '400', '401', '403', '429', '503']);
    expect(statuses('/auth/identities', 'get')).toEqual(['200', '401', '503']);
    expect(statuses('/auth/identities/{id}', 'delete')).toEqual(['204', '400', '401', '403', '404', '409', '415', '503']);
    expect(statuses('/auth/oidc/backchannel-logout', 'post')).toEqual(['200', '400', '429', '503']);
    expect(statuses('/health', 'get')).toEqual(['200', '503']);
    expect(doc.paths['/auth/oidc/bind/confirm'].post.requestBody.content['application/json'].schema.$ref).toMatch(/BindConfirmDto/);

    // Every documented error response shows examples whose code is answered with that very status.
    const statusOf: Record<string, number> = { ...OIDC_ERROR_STATUS, payload_too_large: 413, temporarily_unavailable: 503 };
    let checked = 0;
    for (const [path, methods] of Object.entries<any>(doc.paths)) {
      for (const [method, operation] of Object.entries<any>(methods)) {
        for (const [status, response] of Object.entries<any>(operation.responses)) {
          // The health routes document the health shapes (Terminus), not the module's errors.
          if (Number(status) < 400 || path.startsWith('/health')) continue;
          const content = response.content?.['application/json'];
          const examples = content?.examples ? Object.values<any>(content.examples).map((e) => e.value) : [content?.example];
          for (const example of examples) {
            // temporarily_unavailable is the back-channel's retryable answer: 503, or 429 from the rate limit.
            const expected = example?.error === 'temporarily_unavailable' && status === '429' ? 429 : statusOf[example?.error];
            expect(expected, `${method.toUpperCase()} ${path} ${status}: ${JSON.stringify(example)}`).toBe(Number(status));
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(40);
    const example = (path: string, method: string, status: string) => doc.paths[path][method].responses[status].content['application/json'];
    expect(example('/auth/oidc/bind/confirm', 'post', '429').examples.too_many_attempts.value.error).toBe('too_many_attempts');
    expect(Object.keys(example('/auth/oidc/bind/create', 'post', '403').examples)).toEqual(['create_not_allowed', 'email_not_verified', 'csrf_rejected']);
    expect(example('/auth/oidc/backchannel-logout', 'post', '503').example.error).toBe('temporarily_unavailable');
    expect(example('/api/userinfo', 'get', '503').examples.service_unavailable.value.error).toBe('service_unavailable');
    expect(Object.keys(example('/auth/oidc/callback', 'get', '409').examples)).toEqual(['email_in_use', 'identity_conflict']);
    expect(Object.keys(example('/auth/identities/{id}', 'delete', '409').examples)).toEqual(['last_sign_in_method']);
  });

  it('policy create never gives an email the OP did not verify to the new account', async () => {
    const { browser, callback } = await loginThroughOp(running.url, 'unverified2');
    expect(callback.status).toBe(302);
    const me = JSON.parse((await browser.request(`${running.url}/auth/session`)).text);
    expect(me.user).toMatchObject({ email: null, displayName: 'Unverified 2' });
    const identity = await withDb((db) => db.query('SELECT email FROM user_identities WHERE subject = $1', ['unverified2']));
    expect(identity.rows[0].email).toBe('unverified2@example.com');
  });

  it('records activity (last_seen_at) at most once a minute', async () => {
    const { browser } = await loginThroughOp(running.url, 'u14');
    const id = JSON.parse((await browser.request(`${running.url}/auth/session`)).text).session.id;
    const lastSeen = async () => withDb(async (db) => (await db.query('SELECT last_seen_at FROM sessions WHERE id = $1', [id])).rows[0].last_seen_at as Date);
    await withDb((db) => db.query(`UPDATE sessions SET last_seen_at = now() - interval '5 minutes' WHERE id = $1`, [id]));
    const old = await lastSeen();
    await browser.request(`${running.url}/auth/session`);
    const touched = await lastSeen();
    expect(Date.now() - touched.getTime()).toBeLessThan(10_000);
    await browser.request(`${running.url}/auth/sessions`);
    expect((await lastSeen()).getTime()).toBe(touched.getTime());
    expect(touched.getTime()).toBeGreaterThan(old.getTime());
  });

  it('without a session the session routes answer 401', async () => {
    expect((await fetch(`${running.url}/auth/session`)).status).toBe(401);
    expect((await fetch(`${running.url}/auth/session`, { headers: bearer('x'.repeat(43)) })).status).toBe(401);
    expect((await fetch(`${running.url}/auth/sessions`, { headers: { cookie: 'session=garbage' } })).status).toBe(401);
  });
});

describe('token vault TTL never outlives the session', () => {
  let running: RunningApp;
  const state = testState();
  beforeAll(async () => {
    running = await startApp({ OIDC_UNLINKED_IDENTITY: 'create', SESSION_TTL: '2m', OIDC_ID_TOKEN_TTL: '168h' });
  });
  afterAll(async () => {
    await running.close();
    await state.close();
  });

  it('caps the id_token and refresh token TTLs at the session expiry', async () => {
    const { browser } = await loginThroughOp(running.url, 'u12');
    const me = JSON.parse((await browser.request(`${running.url}/auth/session`)).text);
    expect(new Date(me.session.expiresAt).getTime() - Date.now()).toBeLessThanOrEqual(120_000);
    for (const kind of ['id_token', 'refresh_token']) {
      const ttl = (await state.pttl(`oidc:vault:{session:${me.session.id}}:${kind}`)) as number;
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(120_000);
    }
  });
});
