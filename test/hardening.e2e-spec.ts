import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { sha256 } from '../src/oidc/crypto/secrets';
import { SessionPurgeJob } from '../src/oidc/jobs/session-purge.job';
import { SessionRepository } from '../src/oidc/repositories/session.repository';
import { e2e, jsonBody, type RunningApp, startApp, withDb } from './support/app';
import { freePort } from './support/dev-op';
import { eventually } from './support/op';
import { TcpProxy } from './support/tcp-proxy';
import type { Browser } from './support/browser';
import { bearer, loginThroughOp } from './support/flows';

interface Device {
  browser: Browser;
  token: string;
  sessionId: string;
}

/** Signs in (completing a first-login bind by create when the app sends the browser to the bind page). */
async function device(app: RunningApp, username: string): Promise<Device> {
  const { browser, callback } = await loginThroughOp(app.url, username);
  const bindToken = new URL(callback.location as string).searchParams.get('token');
  if (bindToken) expect((await browser.request(`${app.url}/auth/oidc/bind/create`, { json: { token: bindToken } })).status).toBe(200);
  const me = JSON.parse((await browser.request(`${app.url}/auth/session`)).text);
  return { browser, token: (await browser.cookie(app.url, 'session')) as string, sessionId: me.session.id };
}

async function sessionRow(id: string): Promise<{ revoked_reason: string | null } | undefined> {
  return withDb(async (db) => (await db.query('SELECT revoked_reason FROM sessions WHERE id = $1', [id])).rows[0]);
}

async function status(app: RunningApp, d: Device): Promise<number> {
  return (await fetch(`${app.url}/auth/session`, { headers: bearer(d.token) })).status;
}

describe('no cross-site state changes', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'bind', OIDC_ALLOWED_ORIGINS: 'https://spa.example.com' });
  });
  afterAll(async () => app.close());

  /** A live session (for logout and DELETE) and a pending bind (for the bind routes), with their cookies. */
  async function victim(n: number) {
    const d = await device(app, `u${n}`);
    const bind = await loginThroughOp(app.url, `u${n + 1}`);
    const bindToken = new URL(bind.callback.location as string).searchParams.get('token') as string;
    const cookie = [await d.browser.jar.getCookieString(`${app.url}/auth/session`), await bind.browser.jar.getCookieString(`${app.url}/auth/oidc/bind`)].join('; ');
    return { ...d, bindBrowser: bind.browser, bindToken, cookie };
  }

  const attacks: Array<[string, (origin: string) => { headers: Record<string, string>; body?: string }]> = [
    ['a cross-site form (x-www-form-urlencoded)', () => ({ headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, body: 'everywhere=true' })],
    ['a cross-site text/plain POST', () => ({ headers: { origin: 'https://evil.example', 'content-type': 'text/plain' }, body: '{"everywhere":true}' })],
    ['a foreign Origin with JSON', () => ({ headers: { origin: 'https://evil.example', 'content-type': 'application/json' }, body: '{}' })],
    ['Origin: null (sandboxed frame) with JSON', () => ({ headers: { origin: 'null', 'content-type': 'application/json' }, body: '{}' })],
    ['Sec-Fetch-Site: cross-site without Origin', () => ({ headers: { 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' }, body: '{}' })],
    ['a same-origin form (not JSON)', (o) => ({ headers: { origin: o, 'content-type': 'application/x-www-form-urlencoded' }, body: 'everywhere=true' })],
    ['a same-origin text/plain POST', (o) => ({ headers: { origin: o, 'content-type': 'text/plain' }, body: '{}' })],
  ];

  it.each(attacks)('%s is refused on every state-changing route and changes nothing', async (_name, make) => {
    const v = await victim(90 + 2 * attacks.findIndex(([n]) => n === _name));
    const { headers, body } = make(app.url);
    const cookie = v.cookie;
    // Old enough that any authenticated request would write it again.
    const lastSeen = await withDb(async (db) => (await db.query(`UPDATE sessions SET last_seen_at = now() - interval '5 minutes' WHERE id = $1 RETURNING last_seen_at`, [v.sessionId])).rows[0].last_seen_at as Date);
    const targets: Array<[string, string, string | undefined]> = [
      ['POST', '/auth/oidc/logout', body],
      ['DELETE', `/auth/sessions/${v.sessionId}`, body],
      ['POST', '/auth/oidc/bind/create', body?.startsWith('{') ? JSON.stringify({ token: v.bindToken }) : `token=${v.bindToken}`],
      ['POST', '/auth/oidc/bind/confirm', body?.startsWith('{') ? JSON.stringify({ token: v.bindToken, identifier: 'x@y', password: 'p' }) : `token=${v.bindToken}`],
    ];
    for (const [method, path, payload] of targets) {
      const response = await fetch(`${app.url}${path}`, { method, headers: { ...headers, cookie }, body: payload });
      const expected = headers.origin === app.url ? 415 : 403;
      expect(response.status, `${method} ${path}`).toBe(expected);
      expect((await jsonBody(response)).error).toBe(expected === 403 ? 'csrf_rejected' : 'unsupported_media_type');
    }
    // Refused before the session was even looked up: not touched, not idle-revoked.
    const touched = await withDb(async (db) => (await db.query('SELECT last_seen_at FROM sessions WHERE id = $1', [v.sessionId])).rows[0].last_seen_at);
    expect(touched.getTime()).toBe(lastSeen.getTime());
    expect(await status(app, v)).toBe(200);
    expect((await v.bindBrowser.request(`${app.url}/auth/oidc/bind?token=${v.bindToken}`)).status).toBe(200);
    expect(await sessionRow(v.sessionId)).toEqual({ revoked_reason: null });
  });

  it('same-origin JSON from the browser, an allowed extra origin, and a Bearer client without Origin work', async () => {
    const a = await device(app, 'u80');
    const b = await device(app, 'u80');
    const c = await device(app, 'u80');
    const revoke = await a.browser.request(`${app.url}/auth/sessions/${b.sessionId}`, { method: 'DELETE', headers: { origin: app.url, 'sec-fetch-site': 'same-origin' } });
    expect(revoke.status).toBe(204);
    // An allowed partner origin is cross-site for the browser: the Origin decides, not Sec-Fetch-Site.
    const fromSpa = await fetch(`${app.url}/auth/oidc/logout`, {
      method: 'POST',
      headers: { ...bearer(c.token), origin: 'https://spa.example.com', 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' },
      body: '{}',
    });
    expect(fromSpa.status).toBe(200);
    const server = await fetch(`${app.url}/auth/oidc/logout`, { method: 'POST', headers: { ...bearer(a.token), 'content-type': 'application/json' }, body: '{}' });
    expect(server.status).toBe(200);
    const bind = await loginThroughOp(app.url, 'u81');
    const token = new URL(bind.callback.location as string).searchParams.get('token') as string;
    const created = await bind.browser.request(`${app.url}/auth/oidc/bind/create`, { json: { token }, headers: { origin: app.url, 'sec-fetch-site': 'same-origin' } });
    expect(created.status).toBe(200);
  });
});

describe('responses with user or session data are never cached', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'create' });
  });
  afterAll(async () => app.close());

  it('GET /auth/session, GET /auth/sessions and their 401 carry Cache-Control: no-store and Pragma: no-cache', async () => {
    const d = await device(app, 'u82');
    for (const path of ['/auth/session', '/auth/sessions']) {
      for (const headers of [bearer(d.token), {}]) {
        const response = await fetch(`${app.url}${path}`, { headers });
        expect(response.headers.get('cache-control'), path).toBe('no-store');
        expect(response.headers.get('pragma'), path).toBe('no-cache');
      }
    }
  });

  it('GET /auth/session and GET /auth/sessions write their JSON without Express\'s ETag work: exact length, UTF-8, no ETag (no-store), HEAD with the same length, dates as ISO strings', async () => {
    const d = await device(app, 'u82');
    // Multi-byte characters: Content-Length counts bytes.
    await withDb((db) => db.query(`UPDATE users SET display_name = 'Zoë Ünïcode ✓' WHERE id = (SELECT user_id FROM sessions WHERE id = $1)`, [d.sessionId]));
    for (const path of ['/auth/session', '/auth/sessions']) {
      const response = await fetch(`${app.url}${path}`, { headers: bearer(d.token) });
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type'), path).toBe('application/json; charset=utf-8');
      expect(response.headers.get('etag'), path).toBeNull();
      const raw = Buffer.from(await response.arrayBuffer());
      expect(Number(response.headers.get('content-length')), path).toBe(raw.length);
      const body = JSON.parse(raw.toString('utf8'));
      const info = path === '/auth/session' ? body.session : body.sessions.find((s: { current: boolean }) => s.current);
      for (const field of ['createdAt', 'expiresAt', ...(path === '/auth/sessions' ? ['lastSeenAt'] : [])]) {
        expect(info[field], `${path} ${field}`).toBe(new Date(info[field]).toISOString());
      }
      // HEAD: the same headers (fetch reads no HEAD body; the unit spec checks none is written).
      const head = await fetch(`${app.url}${path}`, { method: 'HEAD', headers: bearer(d.token) });
      expect(head.status, path).toBe(200);
      expect(head.headers.get('content-length'), path).toBe(String(raw.length));
    }
    const me = (await (await fetch(`${app.url}/auth/session`, { headers: bearer(d.token) })).json()) as { user: { displayName: string } };
    expect(me.user.displayName).toBe('Zoë Ünïcode ✓');
  });
});

describe('session lifecycle', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'create', SESSION_IDLE_TIMEOUT: '10m', SESSION_RETENTION: '30d', SESSION_PURGE_INTERVAL: '1h' });
  });
  afterAll(async () => app.close());

  it('a session idle for longer than SESSION_IDLE_TIMEOUT answers 401 and is revoked (idle_timeout)', async () => {
    const idle = await device(app, 'u83');
    const active = await device(app, 'u83');
    await withDb((db) => db.query(`UPDATE sessions SET last_seen_at = now() - interval '11 minutes' WHERE id = $1`, [idle.sessionId]));
    await withDb((db) => db.query(`UPDATE sessions SET last_seen_at = now() - interval '9 minutes' WHERE id = $1`, [active.sessionId]));
    expect(await status(app, idle)).toBe(401);
    expect(await sessionRow(idle.sessionId)).toEqual({ revoked_reason: 'idle_timeout' });
    expect(await status(app, active)).toBe(200);
  });

  it('a session past its absolute expiry answers 401', async () => {
    const d = await device(app, 'u84');
    await withDb((db) => db.query(`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, [d.sessionId]));
    expect(await status(app, d)).toBe(401);
  });

  it('a new login in a browser that still holds a live session revokes that session (replaced)', async () => {
    const first = await device(app, 'u85');
    // Signing in again in the same browser: the OP still knows the user, so it answers at once.
    const start = await first.browser.request(`${app.url}/auth/oidc/login`);
    const atCallback = await first.browser.follow(start, (url) => url.startsWith(`${app.url}/auth/oidc/callback`));
    const done = await first.browser.request(atCallback.location as string);
    expect(done.status).toBe(302);
    const again = (await first.browser.cookie(app.url, 'session')) as string;
    expect(again).not.toBe(first.token);
    expect(await status(app, first)).toBe(401);
    expect(await sessionRow(first.sessionId)).toEqual({ revoked_reason: 'replaced' });
    expect((await fetch(`${app.url}/auth/session`, { headers: bearer(again) })).status).toBe(200);
  });

  it('the purge marks expired sessions, deletes rows ended longer ago than SESSION_RETENTION, and forgets old logout-token ids', async () => {
    const expiredLongAgo = await device(app, 'u86');
    const revokedLongAgo = await device(app, 'u86');
    const revokedRecently = await device(app, 'u86');
    const expiredRecently = await device(app, 'u86');
    const live = await device(app, 'u86');
    await withDb(async (db) => {
      await db.query(`UPDATE sessions SET expires_at = now() - interval '31 days' WHERE id = $1`, [expiredLongAgo.sessionId]);
      await db.query(`UPDATE sessions SET revoked_at = now() - interval '31 days', revoked_reason = 'logout' WHERE id = $1`, [revokedLongAgo.sessionId]);
      await db.query(`UPDATE sessions SET revoked_at = now() - interval '29 days', revoked_reason = 'logout' WHERE id = $1`, [revokedRecently.sessionId]);
      await db.query(`UPDATE sessions SET expires_at = now() - interval '1 day' WHERE id = $1`, [expiredRecently.sessionId]);
      await db.query(`INSERT INTO backchannel_logout_jtis (issuer, jti_hash, expires_at) VALUES ('purge-test', repeat('a', 64), now() - interval '1 second'), ('purge-test', repeat('b', 64), now() + interval '1 hour')`);
    });
    await app.app.get(SessionPurgeJob).run();
    const rows = await withDb(async (db) => (await db.query(`SELECT id, revoked_reason FROM sessions WHERE subject = 'u86'`)).rows);
    const byId = new Map(rows.map((r) => [r.id, r.revoked_reason]));
    expect(byId.has(expiredLongAgo.sessionId)).toBe(false);
    expect(byId.has(revokedLongAgo.sessionId)).toBe(false);
    expect(byId.get(revokedRecently.sessionId)).toBe('logout');
    expect(byId.get(expiredRecently.sessionId)).toBe('expired');
    expect(byId.get(live.sessionId)).toBeNull();
    expect(await status(app, live)).toBe(200);
    const jtis = await withDb(async (db) => (await db.query(`SELECT jti_hash FROM backchannel_logout_jtis WHERE issuer = 'purge-test'`)).rows);
    expect(jtis).toEqual([{ jti_hash: 'b'.repeat(64) }]);
  });
});

/** A proxy in front of the server a URL points at. */
async function proxyFor(url: string): Promise<{ proxy: TcpProxy; url: string }> {
  const target = new URL(url);
  const proxy = new TcpProxy(target.hostname, Number(target.port), await freePort());
  await proxy.start();
  target.host = `127.0.0.1:${proxy.port}`;
  return { proxy, url: target.href };
}

async function timed(request: () => Promise<Response>): Promise<{ status: number; ms: number; body: unknown }> {
  const started = Date.now();
  const response = await request();
  return { status: response.status, ms: Date.now() - started, body: await jsonBody(response) };
}

describe('a slow Postgres fails fast', () => {
  let app: RunningApp;
  let pg: { proxy: TcpProxy; url: string };

  beforeAll(async () => {
    pg = await proxyFor(e2e().databaseUrl);
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'create', DATABASE_URL: pg.url, DATABASE_STATEMENT_TIMEOUT: '1s', DATABASE_CONNECT_TIMEOUT: '1s' });
  });
  afterAll(async () => {
    pg.proxy.resume();
    await app.close();
    await pg.proxy.stop();
  });

  it('a Postgres that stops answering gives 503 within the timeouts, and service resumes with it', async () => {
    const d = await device(app, 'u87');
    pg.proxy.stall();
    const slow = await timed(() => fetch(`${app.url}/auth/session`, { headers: bearer(d.token) }));
    expect(slow.status).toBe(503);
    expect(slow.body).toEqual({ error: 'service_unavailable', message: 'A backing service is unavailable; retry later' });
    expect(slow.ms).toBeLessThan(4_000);
    expect(app.logs.some((l) => l.includes('"request.failed"') && l.includes('service_unavailable'))).toBe(true);
    pg.proxy.resume();
    const back = await eventually(() => fetch(`${app.url}/auth/session`, { headers: bearer(d.token) }).then((r) => r.status), (s) => s === 200, 10_000);
    expect(back).toBe(200);
  });

  it("a back-channel logout whose sessions are locked past the statement timeout fails alone: the other tokens of its turn are revoked", async () => {
    const [stuck, free] = [await device(app, 'u188'), await device(app, 'u189')];
    const rows = app.app.get(SessionRepository, { strict: false });
    const until = new Date(Date.now() + 60_000);
    const target = async (d: Device) => {
      const row = (await withDb(async (db) => (await db.query('SELECT issuer, oidc_sid FROM sessions WHERE id = $1', [d.sessionId])).rows[0])) as { issuer: string; oidc_sid: string };
      return { issuer: row.issuer, jtiHash: sha256(randomUUID()), sid: row.oidc_sid, issuedAt: Math.floor(Date.now() / 1000), recordUntil: until, rememberEndedUntil: until };
    };
    const [stuckTarget, freeTarget] = [await target(stuck), await target(free)];
    const [stuckOutcome, freeOutcome] = await withDb(async (locker) => {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE', [stuck.sessionId]);
      try {
        // One turn, one statement: it waits for the lock until the statement timeout (1 s), then each token alone.
        return await Promise.allSettled([rows.revokeForLogoutToken(stuckTarget), rows.revokeForLogoutToken(freeTarget)]);
      } finally {
        await locker.query('ROLLBACK');
      }
    });
    expect(freeOutcome).toEqual({ status: 'fulfilled', value: { claimed: true, revoked: [free.sessionId] } });
    expect(stuckOutcome.status).toBe('rejected');
    expect((stuckOutcome as PromiseRejectedResult).reason.code).toBe('57014');
    // Nothing of the stuck token was recorded: its retry works.
    expect((await sessionRow(stuck.sessionId))?.revoked_reason).toBeNull();
    expect(await rows.revokeForLogoutToken(stuckTarget)).toEqual({ claimed: true, revoked: [stuck.sessionId] });
  });
});
