import { type CallHandler, Controller, type ExecutionContext, Get, Injectable, Module, type NestInterceptor, UseGuards } from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import type { Response } from 'express';
import { type Observable, tap } from 'rxjs';
import { TypeOrmModule } from '@nestjs/typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAppConfig } from '../src/config/app-config';
import { dataSourceOptions } from '../src/database.options';
import { type AccountVerifier, type AfterLoginHook, type AuthenticatedSession, CurrentUser, type LoginEvent, OidcModule, SessionGuard } from '../src/oidc';
import { appUrl, jsonBody, testEnv, withDb } from './support/app';
import { Browser } from './support/browser';
import { submitOpLogin } from './support/flows';

/** A host-provided verifier: a "directory" that knows one account by a login name, not an email. */
@Injectable()
class DirectoryVerifier implements AccountVerifier {
  static userId = '';
  static calls: string[] = [];
  async verify(identifier: string, secret: string): Promise<{ userId: string } | null> {
    DirectoryVerifier.calls.push(identifier);
    return identifier === 'dir-erin' && secret === 'directory secret' ? { userId: DirectoryVerifier.userId } : null;
  }
}

@Injectable()
class RecordingHook implements AfterLoginHook {
  static events: LoginEvent[] = [];
  async afterLogin(event: LoginEvent): Promise<void> {
    RecordingHook.events.push(event);
  }
}

/** A host's global interceptor that sets a header once the handler is done (a response-time header). */
@Injectable()
class TimingInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const started = Date.now();
    return next.handle().pipe(tap(() => context.switchToHttp().getResponse<Response>().setHeader('X-Host-Took', String(Date.now() - started))));
  }
}

/** The host's own routes: one guarded by the module, one that fails, on paths that look like the module's. */
@Controller('admin/auth')
class HostAdminController {
  @Get('session')
  @UseGuards(SessionGuard)
  whoAmI(@CurrentUser() { user }: AuthenticatedSession): { userId: string } {
    return { userId: user.id };
  }

  @Get('sessions')
  broken(): never {
    throw new Error('host failure');
  }
}

describe('OidcModule in a host of its own: replaceable verifier and after-login hook, under a global prefix', () => {
  const base = appUrl(0);
  let close: () => Promise<unknown>;

  beforeAll(async () => {
    DirectoryVerifier.userId = await withDb(async (db) => (await db.query(`INSERT INTO users (email, display_name) VALUES ('erin@corp.example', 'Erin') RETURNING id`)).rows[0].id);
    const config = loadAppConfig(testEnv({ OIDC_UNLINKED_IDENTITY: 'bind', OIDC_REDIRECT_URI: `${base}/api/auth/oidc/callback`, OIDC_BIND_PAGE_URL: `${base}/bind` }));

    @Module({
      imports: [
        TypeOrmModule.forRoot(dataSourceOptions(config.databaseUrl, [])),
        OidcModule.forRootAsync({ useFactory: () => config.oidc, accountVerifier: DirectoryVerifier, afterLogin: RecordingHook }),
      ],
      controllers: [HostAdminController],
      providers: [{ provide: APP_INTERCEPTOR, useClass: TimingInterceptor }],
    })
    class HostModule {}

    // A host as Nest makes it by default (its own body parsers on), without a cookie parser.
    const app = await NestFactory.create(HostModule, { logger: false });
    app.setGlobalPrefix('api');
    await app.listen(config.port, '127.0.0.1');
    close = () => app.close();
  });
  afterAll(async () => close());

  it('binds with the host verifier, reports the login to the hook, and keeps the module\'s error shapes', async () => {
    const browser = new Browser();
    const start = await browser.request(`${base}/api/auth/oidc/login?return_to=/home`);
    expect(start.status).toBe(302);
    expect(start.headers.getSetCookie().find((c) => c.startsWith('oidc_tx_'))).toMatch(/Path=\/api\/auth\/oidc\/callback/);
    const callback = await submitOpLogin(browser, await browser.follow(start), 'u38', 'pw-u38', `${base}/api`);
    const token = new URL(callback.location as string).searchParams.get('token') as string;
    expect(token).toBeTruthy();

    const post = (body: unknown) => browser.request(`${base}/api/auth/oidc/bind/confirm`, { json: body });
    // The default verifier would accept an email; this host's verifier does not.
    const wrong = await post({ token, identifier: 'erin@corp.example', password: 'directory secret' });
    expect(wrong.status).toBe(401);
    const ok = await post({ token, identifier: 'dir-erin', password: 'directory secret' });
    expect(ok.status).toBe(200);
    expect(DirectoryVerifier.calls).toEqual(['erin@corp.example', 'dir-erin']);

    const me = JSON.parse((await browser.request(`${base}/api/auth/session`)).text);
    expect(me.user.id).toBe(DirectoryVerifier.userId);
    expect(RecordingHook.events).toEqual([
      { userId: DirectoryVerifier.userId, sessionId: me.session.id, issuer: me.session.issuer, subject: 'u38', via: 'bound' },
    ]);

    const notForm = await fetch(`${base}/api/auth/oidc/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"logout_token":"x"}' });
    expect(notForm.status).toBe(400);
    // Served by the direct path under the global prefix (Express would add X-Powered-By).
    expect(notForm.headers.get('x-powered-by')).toBeNull();
    expect(await jsonBody(notForm)).toEqual({ error: 'invalid_request', error_description: expect.any(String) });

    // The session lookup answers after the host's interceptors: a header one sets after the handler is
    // there, and the body is the module's JSON (written without Express's ETag).
    const current = await browser.request(`${base}/api/auth/session`);
    expect(current.status).toBe(200);
    expect(current.headers.get('x-host-took')).toMatch(/^\d+$/);
    expect(current.headers.get('etag')).toBeNull();
    expect(current.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(JSON.parse(current.text).user.id).toBe(DirectoryVerifier.userId);
    const list = await browser.request(`${base}/api/auth/sessions`);
    expect(list.status).toBe(200);
    expect(list.headers.get('x-host-took')).toMatch(/^\d+$/);
    expect(JSON.parse(list.text).sessions).toHaveLength(1);

    // The host's own routes keep the host's behaviour, even on paths that look like the module's:
    // the guard works there (no cookie parser needed), and errors get Nest's default shape.
    const guarded = await browser.request(`${base}/api/admin/auth/session`);
    expect(guarded.status).toBe(200);
    expect(JSON.parse(guarded.text)).toEqual({ userId: DirectoryVerifier.userId });
    expect(guarded.headers.get('cache-control')).toBe('no-store');
    const anonymous = await fetch(`${base}/api/admin/auth/session`);
    expect(anonymous.status).toBe(401);
    const failing = await fetch(`${base}/api/admin/auth/sessions`);
    expect(failing.status).toBe(500);
    expect(await jsonBody(failing)).toEqual({ statusCode: 500, message: 'Internal server error' });
  });
});
