import { expect } from 'vitest';
import { Browser, type Page, parseForm } from './browser';
import { e2e } from './app';

export interface LoginResult {
  browser: Browser;
  /** The callback's response (302 to return_to or to the bind page). */
  callback: Page;
  sessionToken?: string;
}

/** Starts at the app, signs in at the dev OP's form, and stops at the app's callback response. */
export async function loginThroughOp(
  appBase: string,
  username: string,
  options: { browser?: Browser; returnTo?: string; password?: string; params?: Record<string, string>; form?: Record<string, string> } = {},
): Promise<LoginResult> {
  const browser = options.browser ?? new Browser();
  const params = new URLSearchParams(options.params);
  if (options.returnTo) params.set('return_to', options.returnTo);
  const query = params.size ? `?${params}` : '';
  const start = await browser.request(`${appBase}/auth/oidc/login${query}`);
  expect(start.status, start.text.slice(0, 300)).toBe(302);
  const loginPage = await browser.follow(start);
  expect(loginPage.status, loginPage.text.slice(0, 300)).toBe(200);
  const callback = await submitOpLogin(browser, loginPage, username, options.password ?? `pw-${username}`, appBase, options.form);
  return { browser, callback, sessionToken: await browser.cookie(appBase, 'session') };
}

/** Signs in a linked (or, with policy create, new) user and returns the session token and id. */
export async function signIn(appBase: string, username: string): Promise<{ token: string; sessionId: string; browser: Browser }> {
  const { sessionToken, browser } = await loginThroughOp(appBase, username);
  const session = JSON.parse((await browser.request(`${appBase}/auth/session`)).text).session;
  return { token: sessionToken as string, sessionId: session.id as string, browser };
}

/** Posts the OP login form and follows the OP's redirects up to the app's callback, which it calls. */
export async function submitOpLogin(browser: Browser, loginPage: Page, username: string, password: string, appBase: string, extra: Record<string, string> = {}): Promise<Page> {
  const form = parseForm(loginPage.text, loginPage.url);
  const afterLogin = await browser.request(form.action, { form: { ...form.fields, username, password, ...extra } });
  const atCallback = await browser.follow(afterLogin, (url) => url.startsWith(`${appBase}/auth/oidc/callback`));
  expect(atCallback.location, `OP did not redirect to the app: ${atCallback.status} ${atCallback.text.slice(0, 300)}`).toContain('/auth/oidc/callback');
  return browser.request(atCallback.location as string);
}

/** Signs in and returns the OP redirect to the callback, without calling it. */
export async function authorizeAtOp(appBase: string, username: string, browser = new Browser(), query = ''): Promise<{ browser: Browser; callbackUrl: string }> {
  const start = await browser.request(`${appBase}/auth/oidc/login${query}`);
  const loginPage = await browser.follow(start);
  const form = parseForm(loginPage.text, loginPage.url);
  const afterLogin = await browser.request(form.action, { form: { ...form.fields, username, password: `pw-${username}` } });
  const atCallback = await browser.follow(afterLogin, (url) => url.startsWith(`${appBase}/auth/oidc/callback`));
  return { browser, callbackUrl: atCallback.location as string };
}

/** Follows an end-session URL in the browser's OP cookie jar, confirming the OP's logout form. */
export async function endOpSession(browser: Browser, endSessionUrl: string): Promise<Page> {
  const confirm = await browser.follow(await browser.request(endSessionUrl));
  expect(confirm.status).toBe(200);
  const form = parseForm(confirm.text, confirm.url);
  const done = await browser.request(form.action, { form: { ...form.fields, logout: 'yes' } });
  return browser.follow(done, (url) => !url.startsWith(e2e().opUrl));
}

export function bearer(token: string | undefined): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
