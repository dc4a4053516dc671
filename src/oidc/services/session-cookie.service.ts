import { Inject, Injectable } from '@nestjs/common';
import type { CookieOptions, Response } from 'express';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { LOGIN_STATE_TTL_SECONDS } from '../stores/login-state.store';

export const LOGIN_TX_COOKIE = 'oidc_tx';
export const LOGIN_TX_COOKIE_PATH = '/auth/oidc';

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

  setLoginTransaction(res: Response, binding: string): void {
    res.cookie(LOGIN_TX_COOKIE, binding, { ...this.base(), path: LOGIN_TX_COOKIE_PATH, maxAge: LOGIN_STATE_TTL_SECONDS * 1000 });
  }

  clearLoginTransaction(res: Response): void {
    res.clearCookie(LOGIN_TX_COOKIE, { ...this.base(), path: LOGIN_TX_COOKIE_PATH });
  }

  private base(): CookieOptions {
    return { httpOnly: true, sameSite: 'lax', secure: this.options.cookieSecure };
  }
}
