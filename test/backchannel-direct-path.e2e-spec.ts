import { type CallHandler, type CanActivate, Controller, type ExecutionContext, Get, HttpCode, Injectable, type NestInterceptor, Module, Param, Post, type Provider, RequestTimeoutException } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { Router } from 'express';
import type { Observable } from 'rxjs';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { TypeOrmModule } from '@nestjs/typeorm';
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAppConfig } from '../src/config/app-config';
import { dataSourceOptions } from '../src/database.options';
import { OidcModule } from '../src/oidc';
import { appUrl, jsonBody, type RunningApp, startApp, testEnv } from './support/app';
import { bearer, loginThroughOp } from './support/flows';
import { logoutToken } from './support/logout-token';
import { eventually } from './support/op';

/** Posts a logout token (or any form) to `path`, with extra headers. */
function post(base: string, path: string, body: string, headers: Record<string, string> = {}) {
  return fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
}
const form = (token: string) => new URLSearchParams({ logout_token: token }).toString();

async function liveSession(base: string, username: string): Promise<{ token: string; sid: string }> {
  const { browser, sessionToken } = await loginThroughOp(base, username);
  const me = JSON.parse((await browser.request(`${base}/auth/session`)).text);
  return { token: sessionToken as string, sid: me.session.sid };
}

/** The duration metric's count for a route label. */
async function served(base: string, route: string, status: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('oidc_http_request_duration_seconds_count{') && l.includes(`route="${route}"`) && l.includes(`status="${status}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

const auditLines = (app: RunningApp, from: number) =>
  app.logs
    .slice(from)
    .map((l) => JSON.parse(l))
    .filter((l) => l.msg === 'audit');

/**
 * POSTs a form over a raw socket (Content-Length framed), in packets of 97 bytes 5 ms apart, and
 * returns what came back; with `sendBytes` short of the body, the client goes away after that many.
 */
async function rawPost(base: string, path: string, body: string, sendBytes = Number.MAX_SAFE_INTEGER, extraHeaders = ''): Promise<string> {
  const socket = connect(Number(new URL(base).port), '127.0.0.1');
  socket.setNoDelay(true);
  await once(socket, 'connect');
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  // Listened for from the start: the server may answer and close while the last packet's pause runs.
  const closed = once(socket, 'close');
  // Handled from the start as well (a reset while packets are still going out); awaited below all the same.
  closed.catch(() => undefined);
  const bytes = Buffer.from(body);
  socket.write(`POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${bytes.length}\r\n${extraHeaders}Connection: close\r\n\r\n`);
  const end = Math.min(sendBytes, bytes.length);
  for (let at = 0; at < end; at += 97) {
    socket.write(bytes.subarray(at, Math.min(at + 97, end)));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  if (end < bytes.length) {
    socket.destroy();
  } else await closed;
  return answer;
}

describe('the back-channel endpoint served ahead of Express (direct path)', () => {
  let app: RunningApp;
  beforeAll(async () => {
    // Behind one proxy on loopback: the client IP is the X-Forwarded-For the proxy appends.
    app = await startApp({ TRUST_PROXY: 'loopback' });
  });
  afterAll(async () => app.close());

  it('is installed, and answers the exact paths itself: Express never sees them (no X-Powered-By)', async () => {
    expect(app.logs.some((l) => l.includes('"bcl.direct_path"') && l.includes('"path":"/auth/oidc/backchannel-logout"'))).toBe(true);
    const direct = await post(app.url, '/auth/oidc/backchannel-logout', form('not-a-jwt'));
    expect(direct.status).toBe(400);
    expect(direct.headers.get('x-powered-by')).toBeNull();
    expect(direct.headers.get('cache-control')).toBe('no-store');
    expect(direct.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await jsonBody(direct)).toEqual({ error: 'invalid_request', error_description: 'logout_token is not a compact JWS' });
    // The host's own routes still go through Express.
    const ping = await fetch(`${app.url}/api/ping`);
    expect(ping.status).toBe(200);
    expect(ping.headers.get('x-powered-by')).toBe('Express');
  });

  it('the other spellings Express matches reach the Nest route, which answers the same', async () => {
    const { token, sid } = await liveSession(app.url, 'u178');
    for (const path of ['/auth/oidc/backchannel-logout/', '/AUTH/oidc/backchannel-logout', '/auth/oidc/backchannel-logout/default/']) {
      const refused = await post(app.url, path, form('not-a-jwt'));
      expect(refused.headers.get('x-powered-by')).toBe('Express');
      expect(refused.status).toBe(400);
      expect(await jsonBody(refused)).toEqual({ error: 'invalid_request', error_description: 'logout_token is not a compact JWS' });
    }
    const nest = await post(app.url, '/auth/oidc/backchannel-logout/', form(await logoutToken({ sid })));
    expect(nest.status).toBe(200);
    expect(await nest.text()).toBe('');
    expect((await fetch(`${app.url}/auth/session`, { headers: bearer(token) })).status).toBe(401);
  });

  it('a live session: 200 with an empty body, revoked, counted under the route pattern; a replay is refused', async () => {
    const { token, sid } = await liveSession(app.url, 'u179');
    const before = await served(app.url, '/auth/oidc/backchannel-logout/:provider', '200');
    const logout = await logoutToken({ sid });
    const accepted = await post(app.url, '/auth/oidc/backchannel-logout/default?x=1', form(logout));
    expect(accepted.status).toBe(200);
    expect(accepted.headers.get('x-powered-by')).toBeNull();
    expect(accepted.headers.get('cache-control')).toBe('no-store');
    expect(await accepted.text()).toBe('');
    expect((await fetch(`${app.url}/auth/session`, { headers: bearer(token) })).status).toBe(401);
    expect(await served(app.url, '/auth/oidc/backchannel-logout/:provider', '200')).toBe(before + 1);
    const replay = await post(app.url, '/auth/oidc/backchannel-logout', form(logout));
    expect(replay.status).toBe(400);
    expect(await jsonBody(replay)).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('jti') });
  });

  it('bad requests get the same answers as on the Nest route: unknown provider, not a form, no token, oversized body', async () => {
    const cases: Array<[string, string, Record<string, string>, number, string]> = [
      ['/auth/oidc/backchannel-logout/nobody', form('x.y.z'), {}, 400, 'No OpenID Provider is configured for this back-channel logout endpoint'],
      ['/auth/oidc/backchannel-logout/%E0%A4%A', form('x.y.z'), {}, 400, ''],
      ['/auth/oidc/backchannel-logout', '{"logout_token":"x"}', { 'content-type': 'application/json' }, 400, 'The body must be application/x-www-form-urlencoded'],
      ['/auth/oidc/backchannel-logout', 'other=1', {}, 400, 'logout_token is missing'],
      ['/auth/oidc/backchannel-logout', `logout_token=${'a'.repeat(40_000)}`, {}, 400, 'Request body is too large'],
    ];
    for (const [path, body, headers, status, description] of cases) {
      for (const spelling of [path, path.replace('/auth/', '/Auth/')]) {
        const response = await post(app.url, spelling, body, headers);
        expect(response.status, spelling).toBe(status);
        // A provider id that is not valid percent-encoding is Express's own 400 on both ways in.
        if (description) expect(await jsonBody(response)).toEqual({ error: 'invalid_request', error_description: description });
      }
    }
  });

  it('a body in several packets is read whole; a client that goes away mid-body is a 400 in the log, and nothing changes', async () => {
    const { token, sid } = await liveSession(app.url, 'u199');
    const logged = app.logs.length;
    const partial = `\uFEFF${form(await logoutToken({ sid }))}`;
    expect(await rawPost(app.url, '/auth/oidc/backchannel-logout', partial, 300)).toBe('');
    const rejected = () => app.logs.slice(logged).some((l) => l.includes('"bcl.rejected"') && l.includes('Malformed request body'));
    expect(await eventually(async () => rejected(), (seen) => seen, 2_000)).toBe(true);
    expect((await fetch(`${app.url}/auth/session`, { headers: bearer(token) })).status).toBe(200);
    const whole = await rawPost(app.url, '/auth/oidc/backchannel-logout', `\uFEFF${form(await logoutToken({ sid }))}`);
    expect(whole).toMatch(/^HTTP\/1\.1 200 /);
    expect((await fetch(`${app.url}/auth/session`, { headers: bearer(token) })).status).toBe(401);
  });

  it('a body that stops coming is refused once its 10 s deadline passes (400, connection closed), and nothing changes', async () => {
    const { token, sid } = await liveSession(app.url, 'u198');
    const bytes = Buffer.from(form(await logoutToken({ sid })));
    const socket = connect(Number(new URL(app.url).port), '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    const closed = once(socket, 'close');
    closed.catch(() => undefined);
    await once(socket, 'connect');
    socket.write(`POST /auth/oidc/backchannel-logout HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${bytes.length}\r\n\r\n`);
    socket.write(bytes.subarray(0, 200));
    await closed; // the server closes it after its answer
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toMatch(/\r\nConnection: close\r\n/i);
    expect(answer).toContain('Request body did not arrive in time');
    expect((await fetch(`${app.url}/auth/session`, { headers: bearer(token) })).status).toBe(200);
  }, 20_000);

  it("the audit line carries the client IP resolved with the host's trust proxy setting, and the user agent", async () => {
    const from = app.logs.length;
    const refused = await post(app.url, '/auth/oidc/backchannel-logout', form('not-a-jwt'), { 'x-forwarded-for': '203.0.113.7', 'user-agent': 'DirectPath/1.0' });
    expect(refused.status).toBe(400);
    expect(auditLines(app, from).find((l) => l.event === 'backchannel_logout')).toMatchObject({ outcome: 'rejected', clientIp: '203.0.113.7', userAgent: 'DirectPath/1.0' });
  });

  it('GET and other methods on the path still go to Express (404), and so do longer paths', async () => {
    const get = await fetch(`${app.url}/auth/oidc/backchannel-logout`);
    expect(get.status).toBe(404);
    expect(get.headers.get('x-powered-by')).toBe('Express');
    const longer = await post(app.url, '/auth/oidc/backchannel-logout/default/extra', form('x'));
    expect(longer.status).toBe(404);
    const lookalike = await post(app.url, '/auth/oidc/backchannel-logoutx', form('x'));
    expect(lookalike.status).toBe(404);
  });
});

describe('the direct path shares the rejection budget with the Nest route', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ OIDC_BACKCHANNEL_RATE_LIMIT: '3/1m', TRUST_PROXY: 'loopback' }, 1);
  });
  afterAll(async () => app.close());

  it('three refusals on either way in, then 429 with Retry-After on both, before the body is read', async () => {
    const from = { 'x-forwarded-for': '198.51.100.23' };
    expect((await post(app.url, '/auth/oidc/backchannel-logout', form('bad'), from)).status).toBe(400);
    expect((await post(app.url, '/auth/oidc/backchannel-logout/', form('bad'), from)).status).toBe(400);
    expect((await post(app.url, '/auth/oidc/backchannel-logout/default', form('bad'), from)).status).toBe(400);
    for (const path of ['/auth/oidc/backchannel-logout', '/auth/oidc/backchannel-logout/']) {
      const limited = await post(app.url, path, 'not even a form', { ...from, 'content-type': 'text/plain' });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await jsonBody(limited)).toMatchObject({ error: 'temporarily_unavailable' });
    }
    // Another client is not affected.
    expect((await post(app.url, '/auth/oidc/backchannel-logout', form('bad'), { 'x-forwarded-for': '198.51.100.24' })).status).toBe(400);
  });

  it('a refusal is counted before it is answered: the very next request sees it, on either state store', async () => {
    // With the Postgres state store the count and the next read may go through two connections of the
    // pool: counted after the answer, the next read could overtake it (a flake of the test above).
    for (let client = 30; client < 42; client++) {
      const from = { 'x-forwarded-for': `198.51.100.${client}` };
      for (let i = 0; i < 3; i++) expect((await post(app.url, '/auth/oidc/backchannel-logout', form('bad'), from)).status).toBe(400);
      expect((await post(app.url, '/auth/oidc/backchannel-logout', form('bad'), from)).status).toBe(429);
    }
  });
});

describe('OIDC_BACKCHANNEL_DIRECT_PATH=false', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ OIDC_BACKCHANNEL_DIRECT_PATH: 'false' });
  });
  afterAll(async () => app.close());

  it('leaves every request to the Nest route, which logs out the same', async () => {
    const { token, sid } = await liveSession(app.url, 'u180');
    const accepted = await post(app.url, '/auth/oidc/backchannel-logout', form(await logoutToken({ sid })));
    expect(accepted.status).toBe(200);
    expect(accepted.headers.get('x-powered-by')).toBe('Express');
    expect((await fetch(`${app.url}/auth/session`, { headers: bearer(token) })).status).toBe(401);
  });
});

/** Routes of the host's under the back-channel path: a POST to a segment that is no provider id, and a GET of any segment. */
@Controller('auth/oidc/backchannel-logout')
class HostSelfTestController {
  @Post('selftest')
  @HttpCode(200)
  selfTest(): { host: true } {
    return { host: true };
  }

  @Get(':anything')
  show(@Param('anything') anything: string): { host: string } {
    return { host: anything };
  }
}

/** A global guard of the host's: refuses requests that carry `x-deny`. */
@Injectable()
class DenyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest().headers['x-deny'] === undefined;
  }
}

/** A global interceptor of the host's: times out requests that carry `x-timeout`. */
@Injectable()
class TimeoutInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.switchToHttp().getRequest().headers['x-timeout'] !== undefined) throw new RequestTimeoutException();
    return next.handle();
  }
}

/** A host of its own with the direct path asked for; `prepare` runs before listen. */
async function host(prepare: (app: NestExpressApplication) => void, providers: Provider[] = [], env: Record<string, string> = {}): Promise<{ url: string; close: () => Promise<void> }> {
  const config = loadAppConfig(testEnv({ OIDC_BACKCHANNEL_DIRECT_PATH: 'true', ...env }));
  @Module({
    imports: [TypeOrmModule.forRoot(dataSourceOptions(config.databaseUrl, [])), OidcModule.forRootAsync({ useFactory: () => config.oidc })],
    controllers: [HostSelfTestController],
    providers,
  })
  class HostModule {}
  const app = await NestFactory.create<NestExpressApplication>(HostModule, { logger: false, bodyParser: false });
  prepare(app);
  await app.listen(config.port, '127.0.0.1');
  return { url: appUrl(0), close: () => app.close() };
}

describe("the direct path and the host's own parts", () => {
  it('a POST to a segment that is no provider id goes to Express: a route of the host there answers', async () => {
    const { url, close } = await host(() => undefined);
    try {
      // The host's GET route on these paths (registered before the module's) does not keep the direct path off.
      expect(await (await fetch(`${url}/auth/oidc/backchannel-logout/default`)).json()).toEqual({ host: 'default' });
      const direct = await post(url, '/auth/oidc/backchannel-logout', form('not-a-jwt'));
      expect(direct.headers.get('x-powered-by')).toBeNull();
      const hostRoute = await post(url, '/auth/oidc/backchannel-logout/selftest', form('x'));
      expect(hostRoute.status).toBe(200);
      expect(await hostRoute.json()).toEqual({ host: true });
    } finally {
      await close();
    }
  });

  it("a request the host's middleware paused and set an encoding on is still read whole on the Nest route (body in packets, a character split between them)", async () => {
    const { url, close } = await host((app) =>
      app.use((req: { headers: Record<string, string>; setEncoding: (e: string) => void; pause: () => void }, _res: unknown, next: () => void) => {
        req.setEncoding(req.headers['x-test-encoding'] ?? 'utf8');
        req.pause();
        next();
      }),
    );
    try {
      for (const encoding of ['utf8', 'latin1', 'base64']) {
        // A valid token for no session, then a parameter whose 2-byte character straddles a packet boundary.
        const prefix = `${form(await logoutToken({ sid: 'no-such-sid-paused' }))}&x=`;
        const body = `${prefix}${'a'.repeat((96 - (Buffer.byteLength(prefix) % 97) + 97) % 97)}é`;
        expect(Buffer.byteLength(body) % 97).toBe(1); // the é's second byte opens the last packet
        const answer = await rawPost(url, '/auth/oidc/backchannel-logout/', body, undefined, `X-Test-Encoding: ${encoding}\r\n`);
        expect(answer, encoding).toMatch(/^HTTP\/1\.1 200 /);
      }
    } finally {
      await close();
    }
  });

  it("middleware the host mounted on the back-channel path keeps the direct path off: the host's check runs", async () => {
    const { url, close } = await host((app) => app.use('/auth/oidc/backchannel-logout', (_req: unknown, res: { status: (n: number) => { json: (b: unknown) => void } }) => res.status(403).json({ blocked: true })));
    try {
      for (const path of ['/auth/oidc/backchannel-logout', '/auth/oidc/backchannel-logout/default']) {
        const blocked = await post(url, path, form('not-a-jwt'));
        expect(blocked.status, path).toBe(403);
        expect(await blocked.json()).toEqual({ blocked: true });
      }
    } finally {
      await close();
    }
  });

  it("a global guard of the host's runs on the Nest route (its refusal in the spec's shape), not on the direct path", async () => {
    const { url, close } = await host(() => undefined, [{ provide: APP_GUARD, useClass: DenyGuard }]);
    try {
      const viaNest = await post(url, '/auth/oidc/backchannel-logout/', form('not-a-jwt'), { 'x-deny': '1' });
      expect(viaNest.status).toBe(400);
      expect(await jsonBody(viaNest)).toEqual({ error: 'invalid_request', error_description: 'Forbidden resource' });
      const direct = await post(url, '/auth/oidc/backchannel-logout', form('not-a-jwt'), { 'x-deny': '1' });
      expect(direct.status).toBe(400);
      expect(await jsonBody(direct)).toEqual({ error: 'invalid_request', error_description: 'logout_token is not a compact JWS' });
    } finally {
      await close();
    }
  });

  it("a router of the host's mounted without a path keeps the direct path off: what it routes there runs", async () => {
    const legacy = Router();
    legacy.use('/auth/oidc', (_req, res, next) => {
      res.setHeader('x-host-mw', 'ran');
      next();
    });
    const { url, close } = await host((app) => app.use(legacy));
    try {
      const response = await post(url, '/auth/oidc/backchannel-logout', form('not-a-jwt'));
      expect(response.headers.get('x-host-mw')).toBe('ran');
      expect(response.status).toBe(400);
    } finally {
      await close();
    }
  });

  it("the host's refusals on the Nest route are never charged to the client's budget, and its timeout is retryable (503)", async () => {
    // Behind a proxy on loopback, so that this client has a budget of its own (198.51.100.77).
    const { url, close } = await host((app) => app.set('trust proxy', 'loopback'), [{ provide: APP_GUARD, useClass: DenyGuard }, { provide: APP_INTERCEPTOR, useClass: TimeoutInterceptor }], {
      OIDC_BACKCHANNEL_RATE_LIMIT: '1/1m',
    });
    const from = { 'x-forwarded-for': '198.51.100.77' };
    try {
      const timedOut = await post(url, '/auth/oidc/backchannel-logout/', form('not-a-jwt'), { ...from, 'x-timeout': '1' });
      expect(timedOut.status).toBe(503);
      expect(timedOut.headers.get('retry-after')).toBe('5');
      expect(await jsonBody(timedOut)).toEqual({ error: 'temporarily_unavailable', error_description: 'The logout could not be completed; retry later' });
      for (let i = 0; i < 2; i++) expect((await post(url, '/auth/oidc/backchannel-logout/', form('not-a-jwt'), { ...from, 'x-deny': '1' })).status).toBe(400);
      // Only the module's own refusal counts: the first uses the budget of one, the next is refused.
      expect((await post(url, '/auth/oidc/backchannel-logout', form('not-a-jwt'), from)).status).toBe(400);
      expect((await post(url, '/auth/oidc/backchannel-logout', form('not-a-jwt'), from)).status).toBe(429);
    } finally {
      await close();
    }
  });
});
