import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword, sha256 } from '../src/oidc/crypto/secrets';
import { type RunningApp, startApp, testState, vaultToken, withDb, decodeJwt, jsonBody } from './support/app';
import type { Browser } from './support/browser';
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

/** Logs in an unlinked OP user and returns the bind token from the bind-page redirect. */
async function bindToken(app: RunningApp, username: string, returnTo?: string): Promise<{ token: string; browser: Browser; location: URL }> {
  const { callback, browser, sessionToken } = await loginThroughOp(app.url, username, { returnTo });
  expect(callback.status).toBe(302);
  expect(sessionToken).toBeUndefined();
  const location = new URL(callback.location as string);
  expect(`${location.origin}${location.pathname}`).toBe(`${app.url}/bind`);
  return { token: location.searchParams.get('token') as string, browser, location };
}

function post(app: RunningApp, path: string, body: unknown, browser?: Browser) {
  if (browser) return browser.request(`${app.url}${path}`, { json: body });
  return fetch(`${app.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => ({
    status: r.status,
    text: await r.text(),
    headers: r.headers,
  }));
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
    const { token, browser, location } = await bindToken(app, 'u20', '/after-bind');
    expect([...location.searchParams.keys()]).toEqual(['token']);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(location.href).not.toMatch(/u20|eyJ/);
    const ttl = (await state.pttl(`oidc:bind:${sha256(token)}`)) as number;
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600_000);

    const info = await browser.request(`${app.url}/auth/oidc/bind?token=${token}`);
    expect(info.status).toBe(200);
    expect(JSON.parse(info.text)).toMatchObject({
      issuer: expect.stringMatching(/^http:\/\/127\.0\.0\.1/),
      email: 'u***0@example.com',
      name: 'User 20',
      actions: { confirm: true, create: true },
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
    expect(await state.keys('oidc:vault:bind:')).toEqual([]);
    expect(await identitiesOf(userId)).toEqual([{ subject: 'u20' }]);

    expect((await browser.request(`${app.url}/auth/oidc/bind?token=${token}`)).status).toBe(410);
    const again = await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner20@corp.example', password: 'correct horse battery' });
    expect(again.status).toBe(410);
    expect(JSON.parse(again.text).error).toBe('bind_token_invalid');

    // The next login of this identity is a plain login.
    const next = await loginThroughOp(app.url, 'u20');
    expect(next.callback.location).toBe(`${app.url}/`);
    expect(next.sessionToken).toBeDefined();
  });

  it('wrong password → 401, unknown account answers the same, then 429 even with the right password', async () => {
    await createLocalUser('owner21@corp.example', 'right password 21');
    const { token } = await bindToken(app, 'u21');
    const wrong = await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner21@corp.example', password: 'nope' });
    const unknown = await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'nobody@corp.example', password: 'nope' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(unknown.text).toBe(wrong.text);
    expect(JSON.parse(wrong.text).error).toBe('invalid_credentials');
    expect((await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner21@corp.example', password: 'nope again' })).status).toBe(401);
    const limited = await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner21@corp.example', password: 'right password 21' });
    expect(limited.status).toBe(429);
    expect(JSON.parse(limited.text).error).toBe('too_many_attempts');
    expect(await sessionCount('u21')).toBe(0);
  });

  it('attempts are also limited per account, across bind tokens', async () => {
    await createLocalUser('owner22@corp.example', 'right password 22');
    const statuses: number[] = [];
    for (const username of ['u22', 'u23', 'u24']) {
      const { token } = await bindToken(app, username);
      for (let i = 0; i < 2; i++) statuses.push((await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner22@corp.example', password: `bad ${i}` })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401]);
    const { token } = await bindToken(app, 'u25');
    expect((await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner22@corp.example', password: 'right password 22' })).status).toBe(429);
  });

  it('two concurrent confirms with one token → exactly one session', async () => {
    await createLocalUser('owner26@corp.example', 'right password 26');
    const { token } = await bindToken(app, 'u26');
    const body = { token, identifier: 'owner26@corp.example', password: 'right password 26' };
    const results = await Promise.all([post(app, '/auth/oidc/bind/confirm', body), post(app, '/auth/oidc/bind/confirm', body), post(app, '/auth/oidc/bind/create', { token })]);
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    // The losers are stopped by the token's lock or find it consumed, never by a database clash.
    for (const r of results.filter((r) => r.status !== 200)) {
      expect(['bind_in_progress', 'bind_token_invalid']).toContain(JSON.parse(r.text).error);
    }
    expect(await sessionCount('u26')).toBe(1);
    expect((await fetch(`${app.url}/auth/oidc/bind?token=${token}`)).status).toBe(410);
  });

  it('linking an identity that got linked to another user meanwhile → 409 and nothing changes', async () => {
    const first = await createLocalUser('owner27a@corp.example', 'password 27a');
    const second = await createLocalUser('owner27b@corp.example', 'password 27b');
    const a = await bindToken(app, 'u27');
    const b = await bindToken(app, 'u27');
    expect((await post(app, '/auth/oidc/bind/confirm', { token: b.token, identifier: 'owner27a@corp.example', password: 'password 27a' })).status).toBe(200);
    const clash = await post(app, '/auth/oidc/bind/confirm', { token: a.token, identifier: 'owner27b@corp.example', password: 'password 27b' });
    expect(clash.status).toBe(409);
    expect(JSON.parse(clash.text)).toEqual({ error: 'identity_conflict', message: 'This OpenID identity is already linked to an account' });
    expect(await identitiesOf(second)).toEqual([]);
    expect(await identitiesOf(first)).toEqual([{ subject: 'u27' }]);
    expect(await sessionCount('u27')).toBe(1);
  });

  it('linking a second identity of the same OP to one account → 409', async () => {
    const owner = await createLocalUser('owner28@corp.example', 'password 28');
    const one = await bindToken(app, 'u28');
    expect((await post(app, '/auth/oidc/bind/confirm', { token: one.token, identifier: 'owner28@corp.example', password: 'password 28' })).status).toBe(200);
    const two = await bindToken(app, 'u29');
    const clash = await post(app, '/auth/oidc/bind/confirm', { token: two.token, identifier: 'owner28@corp.example', password: 'password 28' });
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
    expect((await post(app, '/auth/oidc/bind/create', { token })).status).toBe(410);
  });

  it('create is refused when the OP did not verify the email', async () => {
    const { token } = await bindToken(app, 'unverified1');
    const info = await fetch(`${app.url}/auth/oidc/bind?token=${token}`).then(jsonBody);
    expect(info.actions).toEqual({ confirm: true, create: false });
    const refused = await post(app, '/auth/oidc/bind/create', { token });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text).error).toBe('email_not_verified');
    expect(await sessionCount('unverified1')).toBe(0);
  });

  it('create is refused when a local account already has that email (it must be linked with its password)', async () => {
    await createLocalUser('u31@example.com', 'password 31');
    const { token } = await bindToken(app, 'u31');
    const refused = await post(app, '/auth/oidc/bind/create', { token });
    expect(refused.status).toBe(409);
    expect(JSON.parse(refused.text).error).toBe('email_in_use');
    expect(await sessionCount('u31')).toBe(0);
    expect((await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'u31@example.com', password: 'password 31' })).status).toBe(200);
  });

  it('a back-channel logout of the OP session while the bind is pending: the bind cannot complete', async () => {
    await createLocalUser('owner35@corp.example', 'password 35');
    const { token } = await bindToken(app, 'u35');
    const sid = await state.get(`oidc:bind:${sha256(token)}`).then((raw) => JSON.parse(raw as string).sid);
    expect((await postLogoutToken(app.url, await logoutToken({ sid }))).status).toBe(200);
    const late = await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner35@corp.example', password: 'password 35' });
    expect(late.status).toBe(410);
    expect(JSON.parse(late.text).message).toMatch(/signed out at the OpenID Provider/);
    expect(await sessionCount('u35')).toBe(0);
    expect(await state.keys(`oidc:vault:bind:${sha256(token)}:`)).toEqual([]);

    // A sub-wide logout ends pending binds begun before it, but not a later login.
    const before = await bindToken(app, 'u36');
    expect((await postLogoutToken(app.url, await logoutToken({ sub: 'u36' }))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 5));
    const after = await bindToken(app, 'u36');
    expect((await post(app, '/auth/oidc/bind/create', { token: before.token })).status).toBe(410);
    expect((await post(app, '/auth/oidc/bind/create', { token: after.token })).status).toBe(200);
  });

  it.each([
    ['GET', '/auth/oidc/bind?token=short', 400],
    ['GET', '/auth/oidc/bind', 400],
    ['GET', `/auth/oidc/bind?token=${'A'.repeat(43)}`, 410],
  ])('%s %s → %i', async (method, path, status) => {
    expect((await fetch(`${app.url}${path}`, { method })).status).toBe(status);
  });

  it('rejects malformed confirm bodies with 400 and unknown fields', async () => {
    const { token } = await bindToken(app, 'u32');
    expect((await post(app, '/auth/oidc/bind/confirm', { token })).status).toBe(400);
    expect((await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'x', password: 'y', admin: true })).status).toBe(400);
    expect((await post(app, '/auth/oidc/bind/confirm', { token: 5, identifier: 'x', password: 'y' })).status).toBe(400);
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
    expect(statuses('/auth/oidc/bind', 'get')).toEqual(['200', '400', '410', '503']);
    expect(statuses('/auth/oidc/bind/confirm', 'post')).toEqual(['200', '400', '401', '409', '410', '413', '429', '503']);
    expect(statuses('/auth/oidc/bind/create', 'post')).toEqual(['200', '400', '403', '409', '410', '413', '503']);
    expect(statuses('/auth/oidc/logout', 'post')).toEqual(['200', '400', '401', '413', '503']);
  });
});

describe('account binding with creation disabled', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'bind', OIDC_BIND_ALLOW_CREATE: 'false' });
  });
  afterAll(async () => app.close());

  it('offers no create action and refuses create', async () => {
    const { token } = await bindToken(app, 'u33');
    const info = await fetch(`${app.url}/auth/oidc/bind?token=${token}`).then(jsonBody);
    expect(info.actions.create).toBe(false);
    const refused = await post(app, '/auth/oidc/bind/create', { token });
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
    const { token } = await bindToken(app, 'u37');
    expect((await fetch(`${app.url}/auth/oidc/bind?token=${token}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_200));
    expect((await fetch(`${app.url}/auth/oidc/bind?token=${token}`)).status).toBe(410);
    expect((await post(app, '/auth/oidc/bind/confirm', { token, identifier: 'owner37@corp.example', password: 'password 37' })).status).toBe(410);
    expect((await post(app, '/auth/oidc/bind/create', { token })).status).toBe(410);
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
