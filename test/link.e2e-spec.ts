import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, type Page, parseForm } from './support/browser';
import { freePort, stopDevOp } from './support/dev-op';
import { bearer, loginThroughOp, submitOpLogin } from './support/flows';
import { appUrl, e2e, type RunningApp, startApp, withDb } from './support/app';
import { startOwnDevOp } from './support/op';

interface Identity {
  id: string;
  provider: string | null;
  issuer: string;
  subject: string;
  email: string | null;
  createdAt: string;
  lastLoginAt: string | null;
}

/**
 * Linking while signed in (issue 13), with two development OPs at once: `default` (the suite's OP)
 * and `partner` (its own OP process, private_key_jwt). Policy `create`: a first sign-in makes an
 * account. Users u140…u160.
 */
describe('linking identities while signed in', () => {
  let running: RunningApp;
  let partnerOp: ChildProcess;
  let partnerIssuer: string;
  const app = () => running.url;

  beforeAll(async () => {
    const port = await freePort();
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = 'link-partner-key';
    partnerIssuer = `http://127.0.0.1:${port}`;
    partnerOp = await startOwnDevOp(port, partnerIssuer, 'link-partner', {
      DEV_IDP_CLIENT_ID: 'partner-app',
      DEV_IDP_CLIENT_AUTH: 'private_key_jwt',
      DEV_IDP_CLIENT_JWKS: JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' }] }),
      DEV_IDP_REDIRECT_URIS: `${appUrl(0)}/auth/oidc/callback/partner`,
      DEV_IDP_BACKCHANNEL_LOGOUT_URI: `${appUrl(0)}/auth/oidc/backchannel-logout/partner`,
    });
    running = await startApp({
      OIDC_PROVIDERS: JSON.stringify([
        {
          id: 'partner',
          name: 'Partner',
          issuer: partnerIssuer,
          clientId: 'partner-app',
          clientAuth: 'private_key_jwt',
          privateKeyJwk: { ...privateKey.export({ format: 'jwk' }), kid, alg: 'ES256' },
          redirectUri: `${appUrl(0)}/auth/oidc/callback/partner`,
        },
      ]),
    });
  });

  afterAll(async () => {
    await running?.close();
    if (partnerOp) await stopDevOp(partnerOp);
  });

  /** Signs `username` in at a provider in a browser of its own (or the one given). */
  async function signIn(provider: 'default' | 'partner', username: string, browser = new Browser()) {
    const page = await browser.follow(await browser.request(`${app()}/auth/oidc/login?provider=${provider}`));
    const callback = await submitOpLogin(browser, page, username, `pw-${username}`, app());
    expect(callback.status, callback.text).toBe(302);
    const me = await browser.request(`${app()}/auth/session`);
    expect(me.status, me.text).toBe(200);
    const { user, session } = JSON.parse(me.text) as { user: { id: string }; session: { id: string; provider: string } };
    return { browser, userId: user.id, sessionId: session.id, provider: session.provider };
  }

  /**
   * Starts a link in `browser`, signs in at the OP's form (which a link always shows: fresh
   * authentication) and stops at the OP's redirect to the app's callback, without calling it.
   */
  async function authorizeLink(browser: Browser, provider: 'default' | 'partner', username: string, query = ''): Promise<string> {
    const start = await browser.request(`${app()}/auth/oidc/link?provider=${provider}&return_to=%2Flinked${query}`);
    expect(start.status, start.text).toBe(302);
    const loginPage = await browser.follow(start);
    expect(loginPage.status, 'the OP asks for a fresh sign-in').toBe(200);
    const form = parseForm(loginPage.text, loginPage.url);
    const afterLogin = await browser.request(form.action, { form: { ...form.fields, username, password: `pw-${username}` } });
    let atCallback = await browser.follow(afterLogin, (url) => url.startsWith(`${app()}/auth/oidc/callback`));
    if (!atCallback.location && atCallback.text.includes('/session/end/confirm')) {
      // Signing in as another account than the OP session's: the dev OP (oidc-provider) first ends
      // that session with a self-submitting form.
      const end = parseForm(atCallback.text, atCallback.url);
      atCallback = await browser.follow(await browser.request(end.action, { form: end.fields }), (url) => url.startsWith(`${app()}/auth/oidc/callback`));
    }
    expect(atCallback.location, `${atCallback.status} ${atCallback.url} ${atCallback.text.slice(0, 300)}`).toContain('/auth/oidc/callback');
    return atCallback.location as string;
  }

  async function link(browser: Browser, provider: 'default' | 'partner', username: string, query = ''): Promise<Page> {
    return browser.request(await authorizeLink(browser, provider, username, query));
  }

  async function identitiesOf(browser: Browser): Promise<Identity[]> {
    const response = await browser.request(`${app()}/auth/identities`);
    expect(response.status, response.text).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    return (JSON.parse(response.text) as { identities: Identity[] }).identities;
  }

  async function isLive(browser: Browser): Promise<boolean> {
    return (await browser.request(`${app()}/auth/session`)).status === 200;
  }

  async function identityRows(userId: string): Promise<Array<{ id: string; issuer: string; subject: string }>> {
    return withDb(async (db) => (await db.query(`SELECT id, issuer, subject FROM user_identities WHERE user_id = $1 ORDER BY created_at`, [userId])).rows);
  }

  async function sessionCount(userId: string): Promise<number> {
    return withDb(async (db) => Number((await db.query(`SELECT count(*)::int AS n FROM sessions WHERE user_id = $1`, [userId])).rows[0].n));
  }

  const unlink = (browser: Browser, id: string, headers: Record<string, string> = {}) => browser.request(`${app()}/auth/identities/${id}`, { method: 'DELETE', headers });
  const txCookies = (page: Page) => page.headers.getSetCookie().filter((c) => c.includes('oidc_tx_'));
  const audits = (event: string) => running.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'audit' && l.event === event);

  it('a user signed in with A links their B identity, sees both, and signing in with B lands on the same account', async () => {
    const a = await signIn('default', 'u140');
    const cookieBefore = await a.browser.cookie(app(), 'session');
    const sessionsBefore = await sessionCount(a.userId);

    const callbackUrl = await authorizeLink(a.browser, 'partner', 'u140');
    expect(new URL(callbackUrl).pathname).toBe('/auth/oidc/callback/partner');
    const code = new URL(callbackUrl).searchParams.get('code') as string;
    const done = await a.browser.request(callbackUrl);
    expect(done.status, done.text).toBe(302);
    expect(done.location).toBe(`${app()}/linked`);
    // No new session: same cookie, same session, no session row written; the tx cookie is cleared.
    expect(done.headers.getSetCookie().some((c) => c.startsWith('session='))).toBe(false);
    expect(await a.browser.cookie(app(), 'session')).toBe(cookieBefore);
    expect(await sessionCount(a.userId)).toBe(sessionsBefore);
    expect(JSON.parse((await a.browser.request(`${app()}/auth/session`)).text).session.id).toBe(a.sessionId);

    const identities = await identitiesOf(a.browser);
    expect(identities.map((i) => [i.provider, i.issuer, i.subject, i.email])).toEqual([
      ['default', e2e().opUrl, 'u140', 'u140@example.com'],
      ['partner', partnerIssuer, 'u140', 'u140@example.com'],
    ]);
    expect(identities.every((i) => /^[0-9a-f-]{36}$/.test(i.id) && !Number.isNaN(Date.parse(i.createdAt)))).toBe(true);

    // Signing in with B (another browser) now lands on the same account.
    const b = await signIn('partner', 'u140');
    expect(b.userId).toBe(a.userId);
    expect(b.provider).toBe('partner');

    // Linking the same identity again: success, nothing changes.
    const again = await link(a.browser, 'partner', 'u140');
    expect(again.status, again.text).toBe(302);
    expect((await identitiesOf(a.browser)).map((i) => i.id)).toEqual(identities.map((i) => i.id));

    // Audited; the link's refresh token went back to the OP; neither the code nor a cookie was logged.
    expect(audits('identity_linked').filter((l) => l.userId === a.userId).map((l) => [l.outcome, l.provider, l.alreadyLinked])).toEqual([
      ['success', 'partner', false],
      ['success', 'partner', true],
    ]);
    expect(running.logs.some((l) => l.includes('"link.refresh_token_revoked"'))).toBe(true);
    expect(running.logs.some((l) => l.includes(code))).toBe(false);
    expect(running.logs.some((l) => l.includes(cookieBefore as string))).toBe(false);
  });

  it('unlinking revokes the sessions made through that identity; the last one (no password) is refused, with a password it may go', async () => {
    const a = await signIn('default', 'u141');
    expect((await link(a.browser, 'partner', 'u141')).status).toBe(302);
    const viaB = await signIn('partner', 'u141');
    const alsoViaB = await signIn('partner', 'u141');
    const [idA, idB] = (await identitiesOf(a.browser)).map((i) => i.id);

    // Bad input first: nothing changes.
    expect((await unlink(a.browser, 'not-a-uuid')).status).toBe(400);
    const unknown = await unlink(a.browser, '00000000-0000-4000-8000-000000000000');
    expect([unknown.status, JSON.parse(unknown.text).error]).toEqual([404, 'identity_not_found']);
    const crossSite = await unlink(a.browser, idB, { origin: 'https://evil.example' });
    expect([crossSite.status, JSON.parse(crossSite.text).error]).toEqual([403, 'csrf_rejected']);
    expect((await unlink(new Browser(), idB)).status).toBe(401);
    expect(await identityRows(a.userId)).toHaveLength(2);
    expect(await isLive(viaB.browser)).toBe(true);

    const removed = await unlink(a.browser, idB);
    expect(removed.status, removed.text).toBe(204);
    expect(await isLive(viaB.browser)).toBe(false);
    expect(await isLive(alsoViaB.browser)).toBe(false);
    expect(await isLive(a.browser)).toBe(true);
    expect((await identitiesOf(a.browser)).map((i) => i.id)).toEqual([idA]);
    const reasons = await withDb(async (db) => (await db.query(`SELECT revoked_reason FROM sessions WHERE id = ANY($1)`, [[viaB.sessionId, alsoViaB.sessionId]])).rows);
    expect(reasons).toEqual([{ revoked_reason: 'identity_unlinked' }, { revoked_reason: 'identity_unlinked' }]);
    expect(audits('identity_unlinked').filter((l) => l.userId === a.userId)).toMatchObject([{ identityId: idB, provider: 'partner', revokedSessions: 2 }]);
    // Signing in with B no longer reaches this account (policy create would make a new one, but this account has its email).
    expect((await loginThroughOp(app(), 'u141', { params: { provider: 'partner' } })).callback.status).toBe(409);

    // The last identity of an account without a password stays.
    const last = await unlink(a.browser, idA);
    expect([last.status, JSON.parse(last.text).error]).toEqual([409, 'last_sign_in_method']);
    expect(await identityRows(a.userId)).toHaveLength(1);
    expect(await isLive(a.browser)).toBe(true);

    // With a password the account keeps a way in: the identity may go, with this very session (cookie cleared).
    await withDb((db) => db.query(`UPDATE users SET password_hash = 'scrypt$placeholder' WHERE id = $1`, [a.userId]));
    const withPassword = await unlink(a.browser, idA);
    expect(withPassword.status, withPassword.text).toBe(204);
    expect(withPassword.headers.getSetCookie().some((c) => c.startsWith('session=;'))).toBe(true);
    expect(await identityRows(a.userId)).toHaveLength(0);
  });

  it("an identity of another account, or a second identity of one provider, is refused (409) and nothing changes; another user's identity cannot be unlinked", async () => {
    const other = await signIn('partner', 'u142');
    const me = await signIn('default', 'u143');
    const sessionsBefore = await sessionCount(me.userId);

    const conflict = await link(me.browser, 'partner', 'u142');
    expect(conflict.status, conflict.text).toBe(409);
    expect(JSON.parse(conflict.text).error).toBe('identity_conflict');
    expect(await identityRows(me.userId)).toEqual([expect.objectContaining({ issuer: e2e().opUrl, subject: 'u143' })]);
    expect(await identityRows(other.userId)).toEqual([expect.objectContaining({ issuer: partnerIssuer, subject: 'u142' })]);
    expect(await isLive(me.browser)).toBe(true);
    expect(await isLive(other.browser)).toBe(true);
    expect(await sessionCount(me.userId)).toBe(sessionsBefore);
    expect(audits('identity_linked').filter((l) => l.userId === me.userId)).toMatchObject([{ outcome: 'failure', error: 'identity_conflict' }]);

    // Another user's identity: 404, and it stays.
    const [otherIdentity] = await identityRows(other.userId);
    const foreign = await unlink(me.browser, otherIdentity.id);
    expect([foreign.status, JSON.parse(foreign.text).error]).toEqual([404, 'identity_not_found']);
    expect(await identityRows(other.userId)).toHaveLength(1);

    // UNIQUE(user_id, issuer): a second partner identity for one account. The OP asks for the password
    // again although this browser has a partner session now (a link is always a fresh sign-in).
    expect((await link(me.browser, 'partner', 'u144')).status).toBe(302);
    const second = await link(me.browser, 'partner', 'u145');
    expect([second.status, JSON.parse(second.text).error]).toEqual([409, 'identity_conflict']);
    expect((await identityRows(me.userId)).map((i) => i.subject)).toEqual(['u143', 'u144']);
    expect(await withDb(async (db) => (await db.query(`SELECT 1 FROM user_identities WHERE subject = 'u145'`)).rowCount)).toBe(0);
  });

  it('linking needs a live session cookie of this browser: none, a dead one or only a Bearer token → 401, no tx cookie', async () => {
    expect((await fetch(`${app()}/auth/identities`)).status).toBe(401);
    const none = await fetch(`${app()}/auth/oidc/link?provider=partner`, { redirect: 'manual' });
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: string }).error).toBe('unauthenticated');
    expect(none.headers.getSetCookie().some((c) => c.includes('oidc_tx_'))).toBe(false);

    const { browser } = await signIn('default', 'u146');
    const token = (await browser.cookie(app(), 'session')) as string;
    const bearerOnly = await fetch(`${app()}/auth/oidc/link?provider=partner`, { redirect: 'manual', headers: bearer(token) });
    expect(bearerOnly.status).toBe(401);
    expect(bearerOnly.headers.getSetCookie().some((c) => c.includes('oidc_tx_'))).toBe(false);

    // Bad parameters are refused like a login's, and start nothing.
    for (const [query, error] of [
      ['provider=nope', 'unknown_provider'],
      ['provider=partner&provider=default', 'unknown_provider'],
      ['provider=partner&return_to=%2F%2Fevil.example', 'invalid_return_to'],
      ['provider=partner&return_to=javascript%3Aalert(1)', 'invalid_return_to'],
      ['provider=partner&prompt=none', 'invalid_login_parameter'],
      ['provider=partner&max_age=-1', 'invalid_login_parameter'],
    ]) {
      const response = await fetch(`${app()}/auth/oidc/link?${query}`, { redirect: 'manual', headers: { cookie: `session=${token}` } });
      expect([response.status, ((await response.json()) as { error: string }).error], query).toEqual([400, error]);
      expect(response.headers.getSetCookie().some((c) => c.includes('oidc_tx_')), query).toBe(false);
    }

    expect((await browser.request(`${app()}/auth/oidc/logout`, { json: {} })).status).toBe(200);
    const dead = await fetch(`${app()}/auth/oidc/link?provider=partner`, { redirect: 'manual', headers: { cookie: `session=${token}` } });
    expect(dead.status).toBe(401);
  });

  it('a start that the browser marks cross-site or same-site, or with a foreign Origin, is refused (403) and sets no tx cookie', async () => {
    const { browser } = await signIn('default', 'u147');
    const foreign: Array<Record<string, string>> = [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'https://evil.example' }, { origin: 'null' }];
    for (const headers of foreign) {
      const refused = await browser.request(`${app()}/auth/oidc/link?provider=partner`, { headers });
      expect([refused.status, JSON.parse(refused.text).error], JSON.stringify(headers)).toEqual([403, 'csrf_rejected']);
      expect(txCookies(refused)).toEqual([]);
    }
    const own: Array<Record<string, string>> = [{ 'sec-fetch-site': 'same-origin' }, { 'sec-fetch-site': 'none' }, { origin: app() }];
    for (const headers of own) {
      const started = await browser.request(`${app()}/auth/oidc/link?provider=partner`, { headers });
      expect(started.status, JSON.stringify(headers)).toBe(302);
      expect(txCookies(started)).toHaveLength(1);
      expect(new URL(started.location as string).origin).toBe(partnerIssuer);
    }
  });

  it('the link callback completed in another browser links nothing: no tx cookie → 400; the tx cookie with another or no session → 401', async () => {
    const victim = await signIn('default', 'u148');
    const callbackUrl = await authorizeLink(victim.browser, 'partner', 'u148');

    // Another browser without the tx cookie: refused, and the state is not spent.
    const elsewhere = await new Browser().request(callbackUrl);
    expect([elsewhere.status, JSON.parse(elsewhere.text).error]).toEqual([400, 'login_session_missing']);
    const attacker = await signIn('default', 'u149');
    const attackerTry = await attacker.browser.request(callbackUrl);
    expect(attackerTry.status).toBe(400);
    expect(await identityRows(victim.userId)).toHaveLength(1);
    expect(await identityRows(attacker.userId)).toHaveLength(1);

    // The tx cookie carried into a browser signed in as someone else: 401, nothing linked to anyone.
    const txCookie = (await victim.browser.jar.getCookies(callbackUrl)).find((c) => c.key.startsWith('oidc_tx_'));
    expect(txCookie).toBeDefined();
    await attacker.browser.jar.setCookie(`${txCookie!.key}=${txCookie!.value}; Path=${txCookie!.path}; HttpOnly`, callbackUrl);
    const stolen = await attacker.browser.request(callbackUrl);
    expect([stolen.status, JSON.parse(stolen.text).error]).toEqual([401, 'unauthenticated']);
    expect(await identityRows(victim.userId)).toHaveLength(1);
    expect(await identityRows(attacker.userId)).toHaveLength(1);
    expect(await withDb(async (db) => (await db.query(`SELECT 1 FROM user_identities WHERE issuer = $1 AND subject = 'u148'`, [partnerIssuer])).rowCount)).toBe(0);
    // …and the state is spent: the victim's own browser cannot complete it now either.
    expect((await victim.browser.request(callbackUrl)).status).toBe(400);

    // The same browser, signed out between start and callback: 401.
    const again = await authorizeLink(victim.browser, 'partner', 'u148');
    expect((await victim.browser.request(`${app()}/auth/oidc/logout`, { json: {} })).status).toBe(200);
    const signedOut = await victim.browser.request(again);
    expect([signedOut.status, JSON.parse(signedOut.text).error]).toEqual([401, 'unauthenticated']);
    expect(await identityRows(victim.userId)).toHaveLength(1);
  });

  it("a link keeps the login's checks: a response at another provider's callback (mix-up) and a weaker acr link nothing", async () => {
    const { browser, userId } = await signIn('default', 'u150');
    const callbackUrl = new URL(await authorizeLink(browser, 'partner', 'u150'));
    const mixUp = await browser.request(`${app()}/auth/oidc/callback${callbackUrl.search}`);
    expect([mixUp.status, JSON.parse(mixUp.text).error]).toEqual([400, 'provider_mismatch']);

    const weak = await link(browser, 'partner', 'u150', '&acr_values=urn%3Adev%3Aloa%3A2');
    expect([weak.status, JSON.parse(weak.text).error]).toEqual([403, 'acr_not_satisfied']);
    expect(await identityRows(userId)).toHaveLength(1);
    expect(await isLive(browser)).toBe(true);
  });

  it('holding a session is not enough: linking and unlinking need a recent sign-in of its user (step-up first)', async () => {
    const a = await signIn('default', 'u176');
    await link(a.browser, 'partner', 'u176');
    const [mine] = (await identitiesOf(a.browser)).filter((i) => i.provider === 'partner');
    // The session's user signed in an hour ago (an unattended computer, a stolen cookie).
    await withDb((db) => db.query(`UPDATE sessions SET auth_time = now() - interval '1 hour' WHERE user_id = $1`, [a.userId]));

    const refused = await unlink(a.browser, mine.id);
    expect(refused.status).toBe(401);
    const body = JSON.parse(refused.text);
    expect(body.error).toBe('step_up_required');
    expect(Object.fromEntries(new URL(body.stepUp.loginUrl).searchParams)).toEqual({ provider: 'default', prompt: 'login', max_age: '0' });
    expect((await identitiesOf(a.browser)).map((i) => i.id)).toContain(mine.id);

    // A link start sends the browser through a fresh sign-in at its own provider, which comes back to the link.
    const start = await a.browser.request(`${app()}/auth/oidc/link?provider=partner&return_to=%2Flinked`);
    expect(start.status).toBe(302);
    const reauth = new URL(start.location as string);
    expect(`${reauth.origin}${reauth.pathname}`).toBe(`${app()}/auth/oidc/login`);
    expect(Object.fromEntries(reauth.searchParams)).toEqual({ provider: 'default', prompt: 'login', max_age: '0', return_to: '/auth/oidc/link?provider=partner&return_to=%2Flinked' });
    expect(txCookies(start)).toEqual([]);
    const opForm = await a.browser.follow(await a.browser.request(reauth.href));
    expect(opForm.status, 'the OP asks for the password again').toBe(200);
    const back = await submitOpLogin(a.browser, opForm, 'u176', 'pw-u176', app());
    expect(back.location).toBe(`${app()}/auth/oidc/link?provider=partner&return_to=%2Flinked`);
    // Now recent: the same link start goes on to the partner OP, and the unlink works.
    const again = await a.browser.request(back.location as string);
    expect(again.location?.startsWith(`${partnerIssuer}/`), again.location).toBe(true);
    expect((await unlink(a.browser, mine.id)).status).toBe(204);
  });

  it('two concurrent DELETEs of the last two identities (no password) leave one', async () => {
    for (const username of ['u151', 'u152', 'u153']) {
      const { browser, userId, sessionId } = await signIn('default', username);
      expect((await link(browser, 'partner', username)).status).toBe(302);
      const [idA, idB] = (await identitiesOf(browser)).map((i) => i.id);
      // Keep the caller's session out of both unlinks' revocations, so that each request gets past the
      // session check and only the lock on the account decides.
      await withDb((db) => db.query(`UPDATE sessions SET subject = 'neither' WHERE id = $1`, [sessionId]));

      const answers = await Promise.all([unlink(browser, idA), unlink(browser, idB)]);
      expect(answers.map((a) => a.status).sort(), username).toEqual([204, 409]);
      expect(JSON.parse(answers.find((a) => a.status === 409)!.text).error).toBe('last_sign_in_method');
      expect(await identityRows(userId), username).toHaveLength(1);
    }
  });
});
