import { Inject, Injectable } from '@nestjs/common';
import type { CookieOptions, Request, Response } from 'express';
import { sha256 } from '../crypto/secrets';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { LOGIN_STATE_TTL_SECONDS } from '../stores/login-state.store';
import { callbackBase } from '../util/callback-path';
import { cookieValue } from '../util/request-cookies';

const LOGIN_TX_COOKIE_PREFIX = 'oidc_tx_';
const BIND_COOKIE_PREFIX = 'oidc_bind_';
/**
 * Over https the path-scoped cookies get the `__Secure-` prefix: nobody on the network can plant one
 * over plain http. (`__Host-` would also stop a sibling subdomain, but requires Path=/, and these
 * cookies are deliberately sent only to the callback and the bind routes.)
 */
const SECURE_PREFIX = '__Secure-';

/**
 * One transaction cookie per login in flight, named after the state, so that two tabs signing in
 * at once do not overwrite each other's browser binding.
 */
function loginTransactionCookie(state: string, secure: boolean): string {
  return `${secure ? SECURE_PREFIX : ''}${LOGIN_TX_COOKIE_PREFIX}${sha256(state).slice(0, 16)}`;
}

/** One bind cookie per bind token, so that two binds in flight in one browser keep their own. */
function bindCookie(token: string, secure: boolean): string {
  return `${secure ? SECURE_PREFIX : ''}${BIND_COOKIE_PREFIX}${sha256(token).slice(0, 16)}`;
}

/** The session cookie (HttpOnly, SameSite=Lax, Secure unless plain-http development) and the login transaction cookie. */
@Injectable()
export class SessionCookieService {
  constructor(@Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions) {}

  setSession(res: Response, token: string, expiresAt: Date): void {
    res.cookie(this.options.sessionCookieName, token, { ...this.base(), path: '/', expires: expiresAt });
  }

  clearSession(res: Response): void {
    res.clearCookie(this.options.sessionCookieName, { ...this.base(), path: '/' });
  }

  /** The session token this browser presents, if any (to retire it when a new login replaces it). */
  sessionToken(req: Request): string | undefined {
    return cookieValue(req, this.options.sessionCookieName);
  }

  /** Ties a bind token to this browser; sent only to the bind routes, for the bind token's lifetime. */
  setBindBinding(res: Response, token: string, binding: string): void {
    res.cookie(bindCookie(token, this.options.cookieSecure), binding, { ...this.base(), path: this.bindPath(), maxAge: this.options.bindTokenTtlMs });
  }

  bindBinding(req: Request, token: string): string | undefined {
    return cookieValue(req, bindCookie(token, this.options.cookieSecure));
  }

  clearBindBinding(res: Response, token: string): void {
    res.clearCookie(bindCookie(token, this.options.cookieSecure), { ...this.base(), path: this.bindPath() });
  }

  /** Sent only to the callback (the path of OIDC_REDIRECT_URI, whatever prefix the host mounts the module under). */
  setLoginTransaction(res: Response, state: string, binding: string): void {
    res.cookie(loginTransactionCookie(state, this.options.cookieSecure), binding, { ...this.base(), path: this.callbackPath(), maxAge: LOGIN_STATE_TTL_SECONDS * 1000 });
  }

  /** The browser binding of the login that the callback's `state` names, if this browser has it. */
  loginTransaction(req: Request): string | undefined {
    const state = req.query.state;
    if (typeof state !== 'string') return undefined;
    return cookieValue(req, loginTransactionCookie(state, this.options.cookieSecure));
  }

  clearLoginTransaction(req: Request, res: Response): void {
    const state = req.query.state;
    if (typeof state !== 'string') return;
    res.clearCookie(loginTransactionCookie(state, this.options.cookieSecure), { ...this.base(), path: this.callbackPath() });
  }

  /** `…/auth/oidc/callback`: every provider's callback is this path or below it (checked at startup). */
  private callbackPath(): string {
    return new URL(callbackBase(this.options.providers[0].redirectUri)).pathname;
  }

  /** The bind routes sit next to the callback (`…/auth/oidc/bind`), whatever prefix the host uses. */
  private bindPath(): string {
    return this.callbackPath().replace(/\/callback$/, '/bind');
  }

  private base(): CookieOptions {
    return { httpOnly: true, sameSite: 'lax', secure: this.options.cookieSecure };
  }
}

