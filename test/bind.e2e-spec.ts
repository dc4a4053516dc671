import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword, sha256 } from '../src/oidc/crypto/secrets';
import { type RunningApp, startApp, testState, vaultToken, withDb, decodeJwt, jsonBody } from './support/app';
import { Browser } from './support/browser';
import { loginThroughOp } from './support/flows';
import { logoutToken, postLogoutToken } from './support/logout-token';

async function createLocalUser(email: string, password: string): Promise<string> {
  const hash = await hashPassword(password);
  return withDb(async (db) => (await db.query('INSERT INTO users (email, display_name, password_hash) VALUES ($1, $2, $3) RETURNING id', [email, 'Local', hash])).rows[0].id);
}

async function identitiesOf(userId: string): Promise<Array<{ subject: string }>> {
  return withDb(async (db) => (await db.query('SELECT subject FROM user_identities WHERE user_id = $1', [userId])).rows);
}

async function sessionCount(subject: string): Promise<number> {
  return withDb(async (db) => Number((await db.query('SELECT count(*) FROM sessions WHERE subject = $1', [subject])).rows[0].count));
}

/**
 * Logs in an unlinked OP user and returns the bind token from the bind-page redirect, the browser that
 * holds its bind cookie, and the bind session's key in the state store (token and cookie hashed).
 */
async function bindToken(app: RunningApp, username: string, returnTo?: string): Promise<{ token: string; browser: Browser; location: URL; key: string }> {
  const { callback, browser, sessionToken } = await loginThroughOp(app.url, username, { returnTo });
  expect(callback.status).toBe(302);
  expect(sessionToken).toBeUndefined();
  const location = new URL(callback.location as string);
  expect(`${location.origin}${location.pathname}`).toBe(`${app.url}/bind`);
  const token = location.searchParams.get('token') as string;
  const binding = (await browser.jar.getCookies(`${app.url}/auth/oidc/bind`)).find((c) => c.key === `oidc_bind_${sha256(token).slice(0, 16)}`);
  expect(binding, 'the callback sets the bind cookie').toBeDefined();
  return { token, browser, location, key: sha256(`${token}.${binding?.value}`) };
}

/** A same-origin JSON POST from the browser that holds the bind cookie. */
function post(app: RunningApp, path: string, body: unknown, browser: Browser) {
  return browser.request(`${app.url}${path}`, { json: body });
}

function bindInfo(app: RunningApp, token: string, browser: Browser) {
  return browser.request(`${app.url}/auth/oidc/bind?token=${token}`);
}

describe('account binding (OIDC_UNLINKED_IDENTITY=bind)', () => {
  let app: RunningApp;
  const state = testState();

  beforeAll(async () => {
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'bind', OIDC_BIND_MAX_ATTEMPTS: '3', OIDC_BIND_MAX_ACCOUNT_ATTEMPTS: '6' });
  });
  afterAll(async () => {
    await app.close();
    await state.close();
  });

  it('unknown identity → bind page with only a token; confirm links it and the session caches that login\'s id_token; the token then answers 410', async () => {
    const userId = await createLocalUser('owner20@corp.example', 'correct horse battery');
    const { token, browser, location, key } = await bindToken(app, 'u20', '/after-bind');
    expect([...location.searchParams.keys()]).toEqual(['token']);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(location.href).not.toMatch(/u20|eyJ/);
    const bindCookie = (await browser.jar.getCookies(`${app.url}/auth/oidc/bind`)).find((c) => c.key.startsWith('oidc_bind_'));
    expect(bindCookie).toMatchObject({ httpOnly: true, sameSite: 'lax', path: '/auth/oidc/bind' });
    expect(Number(bindCookie?.maxAge)).toBe(600);
    const ttl = (await state.pttl(`oidc:bind:${key}`)) as number;
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600_000);

    const info = await browser.request(`${app.url}/auth/oidc/bind?token=${token}`);
    expect(info.status).toBe(200);
    expect(JSON.parse(info.text)).toMatchObject({
      issuer: expect.stringMatching(/^http:\/\/127\.0\.0\.1/),
      email: 'u***0@example.com',
      name: 'User 20',
      actions: { confirm: true, create: true },
      createUnavailableReason: null,
    });

    const confirmed = await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'OWNER20@corp.example', password: 'correct horse battery' }, browser);
    expect(confirmed.status).toBe(200);
    expect(JSON.parse(confirmed.text)).toMatchObject({ returnTo: '/after-bind', sessionId: expect.any(String) });
    const me = JSON.parse((await browser.request(`${app.url}/auth/session`)).text);
    expect(me.user).toMatchObject({ id: userId, email: 'owner20@corp.example' });
    expect(me.session.subject).toBe('u20');
    const idToken = (await vaultToken(state, me.session.id, 'id_token')) as string;
    expect(decodeJwt(idToken)).toMatchObject({ sub: 'u20', sid: me.session.sid });
    expect(await vaultToken(state, me.session.id, 'refresh_token')).toEqual(expect.any(String));
    expect(await state.keys(`oidc:vault:{bind:${key}}:`)).toEqual([]);
    expect(await identitiesOf(userId)).toEqual([{ subject: 'u20' }]);

    expect((await browser.request(`${app.url}/auth/oidc/bind?token=${token}`)).status).toBe(410);
    const again = await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner20@corp.example', password: 'correct horse battery' }, browser);
    expect(again.status).toBe(410);
    expect(JSON.parse(again.text).error).toBe('bind_token_invalid');

    // The next login of this identity is a plain login.
    const next = await loginThroughOp(app.url, 'u20');
    expect(next.callback.location).toBe(`${app.url}/`);
    expect(next.sessionToken).toBeDefined();
  });

  it('wrong password → 401, unknown account answers the same, then 429 even with the right password', async () => {
    await createLocalUser('owner21@corp.example', 'right password 21');
    const { token, browser } = await bindToken(app, 'u21');
    const wrong = await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner21@corp.example', password: 'nope' }, browser);
    const unknown = await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'nobody@corp.example', password: 'nope' }, browser);
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(unknown.text).toBe(wrong.text);
    expect(JSON.parse(wrong.text).error).toBe('invalid_credentials');
    expect((await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner21@corp.example', password: 'nope again' }, browser)).status).toBe(401);
    const limited = await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner21@corp.example', password: 'right password 21' }, browser);
    expect(limited.status).toBe(429);
    expect(JSON.parse(limited.text).error).toBe('too_many_attempts');
    expect(await sessionCount('u21')).toBe(0);
  });

  it('attempts are also limited per account, across bind tokens', async () => {
    await createLocalUser('owner22@corp.example', 'right password 22');
    const statuses: number[] = [];
    for (const username of ['u22', 'u23', 'u24']) {
      const { token, browser } = await bindToken(app, username);
      for (let i = 0; i < 2; i++) statuses.push((await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner22@corp.example', password: `bad ${i}` }, browser)).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401]);
    const { token, browser } = await bindToken(app, 'u25');
    expect((await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner22@corp.example', password: 'right password 22' }, browser)).status).toBe(429);
  });

  it('two concurrent confirms with one token → exactly one session', async () => {
    await createLocalUser('owner26@corp.example', 'right password 26');
    const { token, browser } = await bindToken(app, 'u26');
    const body = { token, identifier: 'owner26@corp.example', password: 'right password 26' };
    const results = await Promise.all([post(app, '/auth/oidc/bind/confirm', body, browser), post(app, '/auth/oidc/bind/confirm', body, browser), post(app, '/auth/oidc/bind/create', { token }, browser)]);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    // The losers are stopped by the token's lock or find it consumed, never by a database clash.
    for (const r of results.filter((r) => r.status !== 200)) {
      expect(['bind_in_progress', 'bind_token_invalid']).toContain(JSON.parse(r.text).error);
    }
    expect(await sessionCount('u26')).toBe(1);
    expect((await bindInfo(app, token, browser)).status).toBe(410);
  });

  it('linking an identity that got linked to another user meanwhile → 409 and nothing changes', async () => {
    const first = await createLocalUser('owner27a@corp.example', 'password 27a');
    const second = await createLocalUser('owner27b@corp.example', 'password 27b');
    const a = await bindToken(app, 'u27');
    const b = await bindToken(app, 'u27');
    expect((await post(app, '/auth/oidc/bind/confirm', { token: b.token, identifier: 'owner27a@corp.example', password: 'password 27a' }, b.browser)).status).toBe(200);
    const clash = await post(app, '/auth/oidc/bind/confirm', { token: a.token, identifier: 'owner27b@corp.example', password: 'password 27b' }, a.browser);
    expect(clash.status).toBe(409);
    expect(JSON.parse(clash.text)).toEqual({ error: 'identity_conflict', message: 'This OpenID identity is already linked to an account' });
    expect(await identitiesOf(second)).toEqual([]);
    expect(await identitiesOf(first)).toEqual([{ subject: 'u27' }]);
    expect(await sessionCount('u27')).toBe(1);
  });

  it('linking a second identity of the same OP to one account → 409', async () => {
    const owner = await createLocalUser('owner28@corp.example', 'password 28');
    const one = await bindToken(app, 'u28');
    expect((await post(app, '/auth/oidc/bind/confirm', { token: one.token, identifier: 'owner28@corp.example', password: 'password 28' }, one.browser)).status).toBe(200);
    const two = await bindToken(app, 'u29');
    const clash = await post(app, '/auth/oidc/bind/confirm', { token: two.token, identifier: 'owner28@corp.example', password: 'password 28' }, two.browser);
    expect(clash.status).toBe(409);
    expect(JSON.parse(clash.text).message).toMatch(/already linked to another identity/);
    expect(await identitiesOf(owner)).toEqual([{ subject: 'u28' }]);
    expect(await sessionCount('u29')).toBe(0);
  });

  it('create: a verified email becomes a new account with a session', async () => {
    const { token, browser } = await bindToken(app, 'u30', '/welcome');
    const created = await post(app, '/auth/oidc/bind/create', { token }, browser);
    expect(created.status).toBe(200);
    expect(JSON.parse(created.text).returnTo).toBe('/welcome');
    const me = JSON.parse((await browser.request(`${app.url}/auth/session`)).text);
    expect(me.user).toMatchObject({ email: 'u30@example.com', displayName: 'User 30' });
    expect(await vaultToken(state, me.session.id, 'id_token')).toMatch(/^eyJ/);
    expect((await post(app, '/auth/oidc/bind/create', { token }, browser)).status).toBe(410);
  });

  it('create is refused when the OP did not verify the email', async () => {
    const { token, browser } = await bindToken(app, 'unverified1');
    const info = JSON.parse((await bindInfo(app, token, browser)).text);
    expect(info.actions).toEqual({ confirm: true, create: false });
    expect(info.createUnavailableReason).toBe('email_not_verified');
    const refused = await post(app, '/auth/oidc/bind/create', { token }, browser);
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text).error).toBe('email_not_verified');
    expect(await sessionCount('unverified1')).toBe(0);
  });

  it('create is refused when a local account already has that email (it must be linked with its password)', async () => {
    await createLocalUser('u31@example.com', 'password 31');
    const { token, browser } = await bindToken(app, 'u31');
    const refused = await post(app, '/auth/oidc/bind/create', { token }, browser);
    expect(refused.status).toBe(409);
    expect(JSON.parse(refused.text).error).toBe('email_in_use');
    expect(await sessionCount('u31')).toBe(0);
    expect((await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'u31@example.com', password: 'password 31' }, browser)).status).toBe(200);
  });

  it('a back-channel logout of the OP session while the bind is pending: the bind cannot complete', async () => {
    await createLocalUser('owner35@corp.example', 'password 35');
    const { token, browser, key } = await bindToken(app, 'u35');
    const sid = await state.get(`oidc:bind:${key}`).then((raw) => JSON.parse(raw as string).sid);
    expect((await postLogoutToken(app.url, await logoutToken({ sid }))).status).toBe(200);
    const late = await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner35@corp.example', password: 'password 35' }, browser);
    expect(late.status).toBe(410);
    expect(JSON.parse(late.text).message).toMatch(/signed out at the OpenID Provider/);
    expect(await sessionCount('u35')).toBe(0);
    expect(await state.keys(`oidc:vault:{bind:${key}}:`)).toEqual([]);

    // A sub-wide logout ends pending binds begun before it, but not a later login.
    const before = await bindToken(app, 'u36');
    expect((await postLogoutToken(app.url, await logoutToken({ sub: 'u36' }))).status).toBe(200);
    // Logout and ID tokens carry whole-second iats: a login in the same second as a sub-wide logout counts as ended.
    await new Promise((r) => setTimeout(r, 1_100));
    const after = await bindToken(app, 'u36');
    expect((await post(app, '/auth/oidc/bind/create', { token: before.token }, before.browser)).status).toBe(410);
    expect((await post(app, '/auth/oidc/bind/create', { token: after.token }, after.browser)).status).toBe(200);
  });

  it('a bind token used from another browser (no bind cookie) links nothing and gets the unknown-token answer; a reload in the same browser works', async () => {
    const alice = await createLocalUser('alice59@corp.example', 'alice password 59');
    // Mallory signs in at the OP and mails her bind link to Alice, who opens it in her own browser.
    const mallory = await bindToken(app, 'u59');
    const aliceBrowser = new Browser();
    const unknown = 'A'.repeat(43);
    const answers = async (token: string) => [
      await bindInfo(app, token, aliceBrowser),
      await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'alice59@corp.example', password: 'alice password 59' }, aliceBrowser),
      await post(app, '/auth/oidc/bind/create', { token }, aliceBrowser),
    ];
    const stolen = await answers(mallory.token);
    const forged = await answers(unknown);
    expect(stolen.map((r) => r.status)).toEqual([410, 410, 410]);
    expect(stolen.map((r) => r.text)).toEqual(forged.map((r) => r.text));
    expect(await identitiesOf(alice)).toEqual([]);
    expect(await sessionCount('u59')).toBe(0);
    expect(await aliceBrowser.cookie(app.url, 'session')).toBeUndefined();

    // Mallory's own browser still has a working bind: reloads, then completes.
    expect((await bindInfo(app, mallory.token, mallory.browser)).status).toBe(200);
    expect((await bindInfo(app, mallory.token, mallory.browser)).status).toBe(200);
    const created = await post(app, '/auth/oidc/bind/create', { token: mallory.token }, mallory.browser);
    expect(created.status).toBe(200);
    expect(created.headers.getSetCookie().some((c) => /^oidc_bind_[^=]+=;/.test(c))).toBe(true);
  });

  it.each([
    ['GET', '/auth/oidc/bind?token=short', 400],
    ['GET', '/auth/oidc/bind', 400],
    ['GET', `/auth/oidc/bind?token=${'A'.repeat(43)}`, 410],
  ])('%s %s → %i', async (method, path, status) => {
    expect((await fetch(`${app.url}${path}`, { method })).status).toBe(status);
  });

  it('rejects malformed confirm bodies with 400 and unknown fields', async () => {
    const { token, browser } = await bindToken(app, 'u32');
    expect((await post(app, '/auth/oidc/bind/confirm', { token }, browser)).status).toBe(400);
    expect((await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'x', password: 'y', admin: true }, browser)).status).toBe(400);
    expect((await post(app, '/auth/oidc/bind/confirm', { token: 5, identifier: 'x', password: 'y' }, browser)).status).toBe(400);
    const broken = await fetch(`${app.url}/auth/oidc/bind/confirm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"token":' });
    expect(broken.status).toBe(400);
    expect(await jsonBody(broken)).toEqual({ error: 'invalid_request', message: expect.any(String) });
    const huge = await fetch(`${app.url}/auth/oidc/bind/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, identifier: 'x', password: 'p'.repeat(100_000) }),
    });
    expect(huge.status).toBe(413);
    expect((await jsonBody(huge)).error).toBe('payload_too_large');
  });

  it('Swagger documents every bind route with its error statuses', async () => {
    const doc = await fetch(`${app.url}/docs-json`).then(jsonBody);
    const statuses = (path: string, method: string) => Object.keys(doc.paths[path][method].responses).sort();
    expect(statuses('/auth/oidc/bind', 'get')).toEqual(['200', '400', '410', '429', '503']);
    expect(statuses('/auth/oidc/bind/confirm', 'post')).toEqual(['200', '400', '401', '403', '409', '410', '413', '415', '429', '503']);
    expect(statuses('/auth/oidc/bind/create', 'post')).toEqual(['200', '400', '403', '409', '410', '413', '415', '429', '503']);
    expect(statuses('/auth/oidc/logout', 'post')).toEqual(['200', '400', '401', '403', '413', '415', '503']);
  });
});

describe('account binding with creation disabled', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'bind', OIDC_BIND_ALLOW_CREATE: 'false' });
  });
  afterAll(async () => app.close());

  it('offers no create action and refuses create', async () => {
    const { token, browser } = await bindToken(app, 'u33');
    const info = JSON.parse((await bindInfo(app, token, browser)).text);
    expect(info.actions.create).toBe(false);
    expect(info.createUnavailableReason).toBe('create_not_allowed');
    const refused = await post(app, '/auth/oidc/bind/create', { token }, browser);
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text).error).toBe('create_not_allowed');
    expect(await sessionCount('u33')).toBe(0);
  });
});

describe('an expired bind token', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'bind', OIDC_BIND_TOKEN_TTL: '1s' });
  });
  afterAll(async () => app.close());

  it('answers 410 on info, confirm and create once its TTL has passed', async () => {
    await createLocalUser('owner37@corp.example', 'password 37');
    const { token, browser } = await bindToken(app, 'u37');
    expect((await bindInfo(app, token, browser)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_200));
    expect((await bindInfo(app, token, browser)).status).toBe(410);
    expect((await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner37@corp.example', password: 'password 37' }, browser)).status).toBe(410);
    expect((await post(app, '/auth/oidc/bind/create', { token }, browser)).status).toBe(410);
    expect(await sessionCount('u37')).toBe(0);
  });
});

describe('unlinked identity policy reject', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'reject', OIDC_LOGIN_ERROR_URL: 'http://127.0.0.1:9/login-error' });
  });
  afterAll(async () => app.close());

  it('redirects to the login error page with the code and creates nothing', async () => {
    const { callback } = await loginThroughOp(app.url, 'u34');
    expect(callback.status).toBe(302);
    expect(callback.location).toBe('http://127.0.0.1:9/login-error?error=identity_not_linked');
    expect(await sessionCount('u34')).toBe(0);
  });
});
