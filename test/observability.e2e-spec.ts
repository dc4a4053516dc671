import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appUrl, jsonBody, type RunningApp, startApp, startAppProcess } from './support/app';
import { freePort } from './support/dev-op';
import { loginThroughOp } from './support/flows';
import { logoutToken, postLogoutToken } from './support/logout-token';

/** The value of one sample of a Prometheus text exposition, 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelPart = line.slice(name.length).split(' ')[0];
    if (wanted.every((w) => labelPart.includes(w))) return Number(line.split(' ').pop());
  }
  return 0;
}

describe('metrics and the audit trail', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'bind' });
  });
  afterAll(async () => app.close());

  const metrics = async () => {
    const response = await fetch(`${app.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    return response.text();
  };

  it('after a sign-in, a bind, a logout and a rejected logout token, /metrics shows the matching counters', async () => {
    const before = await metrics();
    const { browser, callback } = await loginThroughOp(app.url, 'u119');
    const token = new URL(callback.location as string).searchParams.get('token') as string;
    expect((await browser.request(`${app.url}/auth/oidc/bind/create`, { json: { token } })).status).toBe(200);
    const out = await browser.request(`${app.url}/auth/oidc/logout`, { json: {} });
    expect(out.status).toBe(200);
    expect((await postLogoutToken(app.url, await logoutToken({ sid: 'x', exp: undefined }))).status).toBe(400);
    const csrf = await browser.request(`${app.url}/auth/oidc/logout`, { json: {}, headers: { origin: 'https://evil.example' } });
    expect(csrf.status).toBe(403);

    const after = await metrics();
    const delta = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta('oidc_logins_total', { outcome: 'success', via: 'created' })).toBe(1);
    expect(delta('oidc_binds_total', { method: 'create', outcome: 'success' })).toBe(1);
    expect(delta('oidc_rp_logouts_total', { everywhere: 'false' })).toBe(1);
    expect(delta('oidc_backchannel_logouts_total', { outcome: 'rejected' })).toBe(1);
    expect(delta('oidc_sessions_revoked_total', { reason: 'logout' })).toBe(1);
    expect(delta('oidc_csrf_refusals_total', { error: 'csrf_rejected' })).toBe(1);
    expect(delta('oidc_http_request_duration_seconds_count', { route: '/auth/oidc/callback', status: '302' })).toBeGreaterThanOrEqual(1);
    expect(after).toMatch(/^oidc_live_sessions \d+$/m);
    expect(after).toMatch(/^process_cpu_user_seconds_total /m);
    // Nothing secret in the metrics.
    expect(after).not.toContain(token);
  });

  it('writes one audit line per security event, with the client IP and user agent and no secret', async () => {
    const from = app.logs.length;
    const { browser, callback } = await loginThroughOp(app.url, 'u120');
    const token = new URL(callback.location as string).searchParams.get('token') as string;
    await browser.request(`${app.url}/auth/oidc/bind/confirm`, { json: { token, identifier: 'nobody@corp.example', password: 'wrong password' }, headers: { 'user-agent': 'AuditTest/1.0' } });
    await browser.request(`${app.url}/auth/oidc/bind/create`, { json: { token }, headers: { 'user-agent': 'AuditTest/1.0' } });
    const audit = app.logs
      .slice(from)
      .map((l) => JSON.parse(l))
      .filter((l) => l.msg === 'audit');
    expect(audit.map((l) => `${l.event}:${l.outcome ?? ''}`)).toEqual(expect.arrayContaining(['bind:failure', 'bind:success', 'login:success']));
    const failed = audit.find((l) => l.event === 'bind' && l.outcome === 'failure');
    expect(failed).toMatchObject({ method: 'confirm', clientIp: expect.stringMatching(/127\.0\.0\.1$/), userAgent: 'AuditTest/1.0', accountTag: expect.stringMatching(/^[0-9a-f]{12}$/) });
    const text = JSON.stringify(audit);
    for (const secret of [token, 'wrong password', 'nobody@corp.example']) expect(text).not.toContain(secret);
  });

  it("every audit line written in a request carries that request's client IP and user agent", async () => {
    const ua = { 'user-agent': 'AuditCaller/2.0' };
    const from = app.logs.length;
    const { browser, callback } = await loginThroughOp(app.url, 'u177');
    const token = new URL(callback.location as string).searchParams.get('token') as string;
    expect((await browser.request(`${app.url}/auth/oidc/bind/create`, { json: { token }, headers: ua })).status).toBe(200);
    const sid = JSON.parse((await browser.request(`${app.url}/auth/session`)).text).session.sid as string;
    // The OP's back-channel call (its own user agent): accepted, the session revoked.
    const post = (logout: string) =>
      fetch(`${app.url}/auth/oidc/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'OpBackchannel/1.0' },
        body: new URLSearchParams({ logout_token: logout }).toString(),
      });
    expect((await post(await logoutToken({ sid }))).status).toBe(200);
    expect((await post(await logoutToken({ sid: 'x', exp: undefined }))).status).toBe(400);
    expect((await browser.request(`${app.url}/auth/oidc/logout`, { json: {}, headers: { origin: 'https://evil.example', ...ua } })).status).toBe(403);

    const audit = app.logs
      .slice(from)
      .map((l) => JSON.parse(l))
      .filter((l) => l.msg === 'audit');
    const line = (event: string, extra: Record<string, unknown> = {}) => audit.find((l) => l.event === event && Object.entries(extra).every(([k, v]) => l[k] === v));
    const ip = expect.stringMatching(/127\.0\.0\.1$/);
    expect(line('bind', { outcome: 'success' })).toMatchObject({ clientIp: ip, userAgent: 'AuditCaller/2.0' });
    expect(line('login', { outcome: 'success' })).toMatchObject({ clientIp: ip, userAgent: 'AuditCaller/2.0' });
    expect(line('backchannel_logout', { outcome: 'accepted' })).toMatchObject({ clientIp: ip, userAgent: 'OpBackchannel/1.0', revokedSessions: 1 });
    expect(line('session_revoked', { reason: 'backchannel_logout' })).toMatchObject({ clientIp: ip, userAgent: 'OpBackchannel/1.0' });
    expect(line('backchannel_logout', { outcome: 'rejected' })).toMatchObject({ clientIp: ip, userAgent: 'OpBackchannel/1.0' });
    expect(line('csrf_refused')).toMatchObject({ clientIp: ip, userAgent: 'AuditCaller/2.0' });
  });
});

describe('rate limits', () => {
  let first: RunningApp;
  let second: RunningApp;
  beforeAll(async () => {
    // A window length of its own: other suites' requests to the same route count in other windows.
    const env = { OIDC_UNLINKED_IDENTITY: 'bind', OIDC_RATE_LIMIT: '5/17s' };
    first = await startApp(env, 0);
    second = await startAppProcess(env, 1);
  });
  afterAll(async () => {
    await second.close();
    await first.close();
  });

  it('are shared by the instances: the sixth request within the window answers 429 with Retry-After', { timeout: 40_000 }, async () => {
    // A fixed 17 s window: start well inside one.
    const intoWindow = Date.now() % 17_000;
    if (intoWindow > 9_000) await new Promise((r) => setTimeout(r, 17_300 - intoWindow));
    const path = `/auth/oidc/bind?token=${'A'.repeat(43)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await fetch(`${(i % 2 ? second : first).url}${path}`)).status);
    expect(statuses).toEqual([410, 410, 410, 410, 410]);
    const limited = await fetch(`${second.url}${path}`);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await jsonBody(limited)).toEqual({ error: 'too_many_requests', message: expect.stringMatching(/Too many requests/) });
    expect((await fetch(`${first.url}${path}`)).status).toBe(429);
    // Another route has its own budget, and authenticated routes are not limited.
    expect((await fetch(`${first.url}/auth/session`)).status).toBe(401);
    expect(first.logs.some((l) => l.includes('"audit"') && l.includes('"rate_limited"')) || second.logs.some((l) => l.includes('"rate_limited"'))).toBe(true);
  });
});

describe('the back-channel route counts rejections only', () => {
  let app: RunningApp;
  beforeAll(async () => {
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'create', OIDC_BACKCHANNEL_RATE_LIMIT: '3/23s' }, 0);
  });
  afterAll(async () => app.close());

  it('valid logout tokens never use the budget; after 3 rejected ones the client gets 429 with Retry-After, even for a valid token', { timeout: 40_000 }, async () => {
    const intoWindow = Date.now() % 23_000;
    if (intoWindow > 14_000) await new Promise((r) => setTimeout(r, 23_300 - intoWindow));
    for (let i = 0; i < 8; i++) expect((await postLogoutToken(app.url, await logoutToken({ sid: `nobody-${i}` }))).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await postLogoutToken(app.url, 'not.a.token')).status).toBe(400);
    const limited = await postLogoutToken(app.url, await logoutToken({ sid: 'nobody-else' }));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await jsonBody(limited)).toEqual({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/Too many rejected/) });
  });
});

describe('health and metrics exposure', () => {
  it('/health/live answers without checking anything; /health/ready checks Postgres and the state store, and an OP outage only degrades it', async () => {
    const deadOp = `http://127.0.0.1:${await freePort()}`;
    const metricsPort = await freePort();
    const app = await startApp({ OIDC_ISSUER: deadOp, METRICS_PORT: String(metricsPort) });
    try {
      const live = await fetch(`${app.url}/health/live`);
      expect(live.status).toBe(200);
      expect(await jsonBody(live)).toMatchObject({ status: 'ok' });
      const ready = await fetch(`${app.url}/health/ready`);
      expect(ready.status).toBe(200);
      expect(await jsonBody(ready)).toMatchObject({
        status: 'ok',
        details: { postgres: { status: 'up' }, stateStore: { status: 'up' }, openidProvider: { status: 'up', discovery: 'down', degraded: true } },
      });
      // With METRICS_PORT, /metrics moves off the app's port.
      expect((await fetch(`${app.url}/metrics`)).status).toBe(404);
      const scraped = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toMatch(/^oidc_logins_total|^# HELP oidc_logins_total/m);
    } finally {
      await app.close();
    }
    expect(appUrl(0)).toBeTruthy();
  });
});
