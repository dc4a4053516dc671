import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { appUrl, e2e, type RunningApp, startApp } from './support/app';
import { freePort, stopDevOp } from './support/dev-op';
import { loginThroughOp } from './support/flows';
import { startOwnDevOp } from './support/op';

/**
 * The demo pages in a real browser (Debian's Chromium driven by playwright-core) against the real
 * app and the dev OP: what a new user sees. Screenshots of every step go to test-results/screenshots/.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`[browser] SKIPPED the browser tests: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
}

const SCREENSHOTS = join('test-results', 'screenshots');
const STEP_TIMEOUT = 15_000;

describe.skipIf(!hasChromium)('the demo in Chromium', () => {
  let app: RunningApp;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  /** CSP violations and uncaught script errors. */
  let pageErrors: string[];

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'bind', OIDC_LOGIN_ERROR_URL: `${appUrl()}/login-error` });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  async function newPage(): Promise<Page> {
    context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    context.setDefaultTimeout(STEP_TIMEOUT);
    pageErrors = [];
    const p = await context.newPage();
    p.on('console', (message) => {
      // An expected 401/410 is logged as "Failed to load resource"; a blocked script or style is not expected.
      if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) pageErrors.push(message.text());
    });
    p.on('pageerror', (error) => pageErrors.push(error.message));
    return p;
  }
  afterEach(async () => {
    await context?.close();
  });

  /** One screenshot per step, named after the state store so that both projects keep theirs. */
  const shot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${e2e().stateStore}-${name}.png`), fullPage: true });

  async function signInAtOp(username: string): Promise<void> {
    await page.locator('#sign-in').click();
    await page.waitForURL((url) => url.href.startsWith(`${e2e().opUrl}/interaction/`));
    await page.locator('input[name="username"]').fill(username);
    await page.locator('input[name="password"]').fill(`pw-${username}`);
  }

  it('a new user signs in, creates the account, sees who they are, their sessions and UserInfo, and signs out through the OP', async () => {
    page = await newPage();
    const home = await page.goto(`${app.url}/`);
    expect(home?.headers()['cache-control']).toBe('no-store');
    expect(home?.headers()['content-security-policy']).toMatch(/script-src 'nonce-[A-Za-z0-9+/=]+'/);
    await page.locator('#signed-out').waitFor();
    expect(await page.locator('#sign-out').isVisible()).toBe(false);
    await shot('01-signed-out');

    await signInAtOp('u115');
    await shot('02-op-login');
    await page.locator('button[type="submit"]').click();

    // The bind page: the token has left the address bar, the page survives a reload.
    await page.locator('#create').waitFor();
    expect(page.url()).toBe(`${app.url}/bind`);
    expect(await page.locator('#who').textContent()).toContain('User 115');
    expect(await page.locator('#no-create').isVisible()).toBe(false);
    const reloaded = await page.reload();
    expect(reloaded?.headers()['referrer-policy']).toBe('no-referrer');
    expect(reloaded?.headers()['cache-control']).toBe('no-store');
    await page.locator('#create').waitFor();
    await shot('03-bind');
    await page.locator('#create').click();

    // Home, signed in: who, sessions (this device marked), no "Sign in".
    await page.waitForURL(`${app.url}/`);
    await page.locator('#user-email').filter({ hasText: 'u115@example.com' }).waitFor();
    expect(await page.locator('#user-name').textContent()).toBe('User 115');
    expect(await page.locator('#sign-in').isVisible()).toBe(false);
    const current = page.locator('#sessions tbody tr.current');
    await current.waitFor();
    expect(await current.textContent()).toContain('This device');
    // The session list names the browser from the User-Agent recorded at sign-in.
    expect(await current.textContent()).toMatch(/Chrome \d+ on Linux/);
    expect(await page.locator('#sessions tbody tr').count()).toBe(1);

    // A second device of the same user appears, and "Sign out this one" ends it.
    const other = await loginThroughOp(app.url, 'u115');
    expect(other.sessionToken).toBeTruthy();
    await page.reload();
    await page.locator('#sessions tbody tr:not(.current)').waitFor();
    expect(await page.locator('#sessions tbody tr').count()).toBe(2);
    await shot('04-home-two-sessions');
    await page.locator('#sessions tbody tr:not(.current) button').click();
    await page.locator('#sessions tbody tr:not(.current)').waitFor({ state: 'detached' });
    expect((await other.browser.request(`${app.url}/auth/session`)).status).toBe(401);

    // UserInfo from the OP, shown as claims.
    await page.locator('#userinfo-button').click();
    await page.locator('#userinfo dd').filter({ hasText: 'u115@example.com' }).waitFor();
    const claims = await page.locator('#userinfo dt').allTextContents();
    expect(claims).toEqual(expect.arrayContaining(['sub', 'email', 'name']));
    await shot('05-userinfo');

    // Sign-in methods: the one identity; no other provider to link; its Unlink is refused (the only way in).
    await page.locator('#identities tbody tr').first().waitFor();
    expect(await page.locator('#identities tbody tr').count()).toBe(1);
    expect(await page.locator('#identities tbody tr').textContent()).toContain('u115@example.com');
    expect(await page.locator('#link-actions a').count()).toBe(0);
    await page.locator('#identities tbody tr button').click();
    await page.locator('#identities-error').filter({ hasText: 'only way to sign in' }).waitFor();
    expect(await page.locator('#identities tbody tr').count()).toBe(1);
    await shot('05b-sign-in-methods');

    // Sign out: the app ends the session and sends the browser to the OP, which comes back to /logged-out.
    await page.locator('#sign-out').click();
    await page.waitForURL((url) => url.href.startsWith(`${e2e().opUrl}/`));
    const confirm = page.locator('button[name="logout"][value="yes"]');
    await confirm.waitFor();
    await shot('06-op-sign-out');
    await confirm.click();
    await page.waitForURL(`${app.url}/logged-out`);
    await page.locator('#logged-out').waitFor();
    await shot('07-logged-out');
    expect((await context.request.get(`${app.url}/auth/session`)).status()).toBe(401);

    // Back to the home page: no cached page, no user data.
    for (let i = 0; i < 5 && page.url() !== `${app.url}/`; i++) await page.goBack();
    expect(page.url()).toBe(`${app.url}/`);
    await page.locator('#signed-out').waitFor();
    expect(await page.getByText('u115@example.com').count()).toBe(0);
    expect(await page.content()).not.toContain('u115@example.com');
    await shot('08-back-after-sign-out');
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('a cancelled sign-in lands on the error page, which explains it and leads back', async () => {
    page = await newPage();
    await page.goto(`${app.url}/`);
    await signInAtOp('u116');
    await page.getByRole('link', { name: 'Cancel' }).click();
    await page.waitForURL(`${app.url}/login-error?error=access_denied`);
    expect(await page.locator('h1').textContent()).toBe('Sign-in cancelled');
    expect(await page.locator('#login-error').textContent()).toContain('You cancelled the sign-in');
    expect(await page.getByRole('link', { name: 'Try again' }).getAttribute('href')).toBe('/auth/oidc/login?return_to=%2F');
    await shot('09-sign-in-cancelled');

    // An unknown code is not reflected: generic text, no markup from the query.
    const forged = await page.goto(`${app.url}/login-error?error=${encodeURIComponent('<img src=x onerror=alert(1)>')}`);
    expect(forged?.headers()['content-security-policy']).toContain("default-src 'none'");
    expect(await page.locator('h1').textContent()).toBe('Sign-in failed');
    expect(await page.content()).not.toContain('onerror');
    expect(await page.locator('img').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('the bind page explains why create is missing (unverified email), a wrong password and a dead token', async () => {
    page = await newPage();
    await page.goto(`${app.url}/`);
    await signInAtOp('unverified3');
    await page.locator('button[type="submit"]').click();
    const why = page.locator('#no-create');
    await why.waitFor();
    expect(await why.textContent()).toContain('has not verified your email address');
    expect(await page.locator('#create-section').isVisible()).toBe(false);

    await page.locator('input[name="identifier"]').fill('nobody@example.com');
    await page.locator('input[name="password"]').fill('not the password');
    await page.locator('#link').click();
    await page.locator('#error').filter({ hasText: 'Wrong email or password.' }).waitFor();
    await shot('10-bind-unverified-wrong-password');

    // A token that is not (or no longer) valid: a clear message and a way to sign in again.
    await page.evaluate(`sessionStorage.setItem('bindToken', '${'A'.repeat(43)}')`);
    await page.reload();
    await page.locator('#dead').waitFor();
    expect(await page.locator('#dead-text').textContent()).toContain('expired or was already completed');
    expect(await page.getByRole('link', { name: 'Sign in again' }).isVisible()).toBe(true);
    await shot('11-bind-token-dead');
    expect(pageErrors).toEqual([]);
  }, 60_000);
});

/**
 * Front-Channel Logout in a real browser: an OP with no back-channel logout at all, whose logout page
 * frames the app's front-channel URI. The app's Lax session cookie reaches that iframe because app
 * and OP are same-site here (127.0.0.1, ports differ); that is what ends the session.
 */
describe.skipIf(!hasChromium)('front-channel logout in Chromium', () => {
  let app: RunningApp;
  let op: ChildProcess;
  let issuer: string;
  let browser: Browser;

  beforeAll(async () => {
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    op = await startOwnDevOp(port, issuer, 'fcl-browser', {
      DEV_IDP_BACKCHANNEL_LOGOUT_URI: '',
      DEV_IDP_FRONTCHANNEL_LOGOUT_URI: `${appUrl(1)}/auth/oidc/frontchannel-logout`,
    });
    app = await startApp({ OIDC_ISSUER: issuer, OIDC_UNLINKED_IDENTITY: 'create', OIDC_POST_LOGOUT_REDIRECT_URI: `${appUrl(1)}/logged-out` }, 1);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    if (op) await stopDevOp(op);
  });

  it('signing out at the OP itself ends the app session through the OP page iframe', async () => {
    const context = await browser.newContext();
    context.setDefaultTimeout(STEP_TIMEOUT);
    const page = await context.newPage();
    const frames: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/auth/oidc/frontchannel-logout')) frames.push(request.url());
    });
    await page.goto(`${app.url}/`);
    await page.locator('#sign-in').click();
    await page.waitForURL((url) => url.href.startsWith(`${issuer}/interaction/`));
    await page.locator('input[name="username"]').fill('u116');
    await page.locator('input[name="password"]').fill('pw-u116');
    await page.locator('button[type="submit"]').click();
    await page.waitForURL(`${app.url}/`);
    await page.locator('#user-email').filter({ hasText: 'u116@example.com' }).waitFor();
    const { session } = await (await context.request.get(`${app.url}/auth/session`)).json();

    // The user signs out at the OP directly (not through the app): only the front channel can tell the app.
    await page.goto(`${issuer}/session/end`);
    const confirm = page.locator('button[name="logout"][value="yes"]');
    await confirm.waitFor();
    await confirm.click();
    await page.waitForURL((url) => !url.href.includes('/session/end/confirm'), { timeout: 10_000 }).catch(() => undefined);
    await expect.poll(() => frames.length, { timeout: 10_000 }).toBe(1);
    const frame = new URL(frames[0]);
    expect(Object.fromEntries(frame.searchParams)).toEqual({ iss: issuer, sid: session.sid });
    await expect.poll(async () => (await context.request.get(`${app.url}/auth/session`)).status(), { timeout: 10_000 }).toBe(401);
    await page.screenshot({ path: join(SCREENSHOTS, `${e2e().stateStore}-20-frontchannel-after-op-logout.png`), fullPage: true });
    await context.close();
  }, 60_000);
});
