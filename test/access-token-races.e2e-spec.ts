import type { ChildProcess } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningApp, startApp, testState, withDb } from './support/app';
import { devOpLog, freePort, stopDevOp } from './support/dev-op';
import { bearer, signIn as signInAt } from './support/flows';
import { startOwnDevOp } from './support/op';

/** An HTTP proxy in front of the dev OP: can refuse everything, or hold some responses (the OP already acted). */
class SlowOp {
  mode: 'pass' | 'down' = 'pass';
  refreshDelayMs = 0;
  discoveryDelayMs = 0;
  private server?: Server;
  constructor(private readonly target: number, readonly port: number) {}
  async start() {
    this.server = createServer(async (req, res) => {
      if (this.mode === 'down') return req.socket.destroy();
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      const isRefresh = req.url?.startsWith('/token') && body.toString().includes('grant_type=refresh_token');
      const isDiscovery = req.url?.includes('/.well-known/openid-configuration');
      const up = request({ host: '127.0.0.1', port: this.target, method: req.method, path: req.url, headers: req.headers }, async (upRes) => {
        const out: Buffer[] = [];
        for await (const c of upRes) out.push(c as Buffer);
        // The OP has answered already; the RP only learns of it later (a slow network / OP).
        const delay = isRefresh ? this.refreshDelayMs : isDiscovery ? this.discoveryDelayMs : 0;
        if (delay) await new Promise((r) => setTimeout(r, delay));
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        res.end(Buffer.concat(out));
      });
      up.on('error', () => { if (!res.headersSent) res.writeHead(502).end(); });
      up.end(body);
    });
    await new Promise<void>((r) => this.server?.listen(this.port, '127.0.0.1', r));
  }
  async stop() {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

describe('access-token refresh races with a slow OP', () => {
  let op: ChildProcess;
  let proxy: SlowOp;
  let issuer: string;
  let first: RunningApp;
  let second: RunningApp | undefined;
  const state = testState();
  const refreshGrants = () => devOpLog(op).filter((l) => l.msg === 'grant.success' && l.grant_type === 'refresh_token').length;
  const env = () => ({ OIDC_ISSUER: issuer, OIDC_UNLINKED_IDENTITY: 'create', OIDC_ACCESS_TOKEN_REFRESH_SKEW: '1s', OIDC_OUTBOX_RETRY_INTERVAL: '1s' });

  const signIn = (username: string) => signInAt(first.url, username);


  beforeAll(async () => {
    const [opPort, proxyPort] = await Promise.all([freePort(), freePort()]);
    issuer = `http://127.0.0.1:${proxyPort}`;
    proxy = new SlowOp(opPort, proxyPort);
    await proxy.start();
    op = await startOwnDevOp(opPort, issuer, 'races', { DEV_IDP_ACCESS_TOKEN_TTL: '600' });
    first = await startApp(env(), 0);
  });
  afterAll(async () => {
    await second?.close();
    await first.close();
    await stopDevOp(op);
    await proxy.stop();
    await state.close();
  });

  it('a logout while the refresh grant is in flight: the tokens it returns are dropped (and revoked), none stays in the vault', { timeout: 30_000 }, async () => {
    const user = await signIn('u117');
    await state.delete([`oidc:vault:{session:${user.sessionId}}:access_token`]); // as if it had expired
    proxy.refreshDelayMs = 3_000;
    let inFlight: Response;
    try {
      const call = fetch(`${first.url}/api/userinfo`, { headers: bearer(user.token) });
      await new Promise((r) => setTimeout(r, 700)); // the refresh grant is at the OP now
      const out = await fetch(`${first.url}/auth/oidc/logout`, { method: 'POST', headers: { ...bearer(user.token), 'content-type': 'application/json' }, body: '{}' });
      expect(out.status).toBe(200);
      inFlight = await call;
    } finally {
      proxy.refreshDelayMs = 0;
    }
    expect(inFlight.status).toBe(401);
    expect(await state.keys(`oidc:vault:{session:${user.sessionId}}:`)).toEqual([]);
    const [row] = await withDb(async (db) => (await db.query('SELECT revoked_reason FROM sessions WHERE id = $1', [user.sessionId])).rows);
    expect(row.revoked_reason).toBe('logout');
  });

  it('a slow OP and an instance with a cold discovery cache: one refresh grant, both requests answered, the session kept', { timeout: 60_000 }, async () => {
    const user = await signIn('u118');
    // The second instance starts while the OP is unreachable: its discovery is deferred.
    proxy.mode = 'down';
    second = await startApp(env(), 1);
    proxy.mode = 'pass';
    await state.delete([`oidc:vault:{session:${user.sessionId}}:access_token`]);
    const before = refreshGrants();
    proxy.discoveryDelayMs = 8_000; // each call under OIDC_HTTP_TIMEOUT (10 s), together longer than it
    proxy.refreshDelayMs = 8_000;
    try {
      const slow = fetch(`${second.url}/api/userinfo`, { headers: bearer(user.token) });
      await new Promise((r) => setTimeout(r, 1_000));
      const waiter = await fetch(`${first.url}/api/userinfo`, { headers: bearer(user.token) });
      const holder = await slow;
      expect([waiter.status, holder.status]).toEqual([200, 200]);
      expect(refreshGrants() - before).toBe(1);
      const [row] = await withDb(async (db) => (await db.query('SELECT revoked_reason FROM sessions WHERE id = $1', [user.sessionId])).rows);
      expect(row.revoked_reason).toBeNull();
    } finally {
      proxy.discoveryDelayMs = 0;
      proxy.refreshDelayMs = 0;
    }
  });
});
