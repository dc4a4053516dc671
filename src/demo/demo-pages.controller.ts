import { Controller, Get, Query, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { bindPage } from './pages/bind.page';
import { homePage } from './pages/home.page';
import { newNonce, setPageHeaders } from './pages/layout';
import { loggedOutPage } from './pages/logged-out.page';
import { loginErrorPage } from './pages/login-error.page';

/**
 * The demo app's pages (not part of OidcModule): home (signed in or out, sessions, UserInfo, sign
 * out), the bind page OIDC_BIND_PAGE_URL points to, the OIDC_LOGIN_ERROR_URL page and the post-logout
 * page. Plain HTML with one inline script each (CSP nonce per response); they only call the module's
 * API and `GET /api/userinfo`, and hold no user data themselves.
 */
@ApiExcludeController()
@Controller()
export class DemoPagesController {
  @Get()
  home(@Res() res: Response): void {
    this.send(res, homePage);
  }

  @Get('bind')
  bind(@Res() res: Response): void {
    this.send(res, bindPage);
  }

  @Get('login-error')
  loginError(@Query('error') error: unknown, @Res() res: Response): void {
    this.send(res, (nonce) => loginErrorPage(nonce, error));
  }

  @Get('logged-out')
  loggedOut(@Res() res: Response): void {
    this.send(res, loggedOutPage);
  }

  private send(res: Response, page: (nonce: string) => string): void {
    const nonce = newNonce();
    setPageHeaders(res, nonce);
    res.status(200).send(page(nonce));
  }
}
