import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2e, jsonBody, type RunningApp, startApp, startAppProcess, testState, withDb } from './support/app';
import { Browser, parseForm } from './support/browser';
import { bearer, loginThroughOp } from './support/flows';
import { BACKCHANNEL_EVENT, logoutToken, opKey, postLogoutToken } from './support/logout-token';
import { freePort } from './support/dev-op';
import { TcpProxy } from './support/tcp-proxy';
import { eventually } from './support/op';
import { sha256 } from '../src/oidc/crypto/secrets';
import { SessionRepository } from '../src/oidc/repositories/session.repository';

const EVENT = BACKCHANNEL_EVENT;

interface Device {
  browser: Browser;
  token: string;
  sessionId: string;
  sid: string;
  subject: string;
}

async function device(appBase: string, username: string): Promise<Device> {
  const { browser, sessionToken } = await loginThroughOp(appBase, username);
  const me = JSON.parse((await browser.request(`${appBase}/auth/session`)).text);
  return { browser, token: sessionToken as string, sessionId: me.session.id, sid: me.session.sid, subject: me.session.subject };
}

async function status(appBase: string, d: Device): Promise<number> {
  return (await fetch(`${appBase}/auth/session`, { headers: bearer(d.token) })).status;
}

/** Signs out at the OP itself (its end_session endpoint, confirmed in the OP's form), in the device's browser. */
async function signOutAtOp(d: Device): Promise<number> {
  const confirm = await d.browser.request(`${e2e().opUrl}/session/end`);
  expect(confirm.status).toBe(200);
  const form = parseForm(confirm.text, confirm.url);
  const done = await d.browser.request(form.action, { form: { ...form.fields, logout: 'yes' } });
  return done.status;
}

function postForm(appBase: string, body: string, contentType = 'application/x-www-form-urlencoded') {
  return fetch(`${appBase}/auth/oidc/backchannel-logout`, { method: 'POST', headers: { 'content-type': contentType }, body });
}

const postToken = postLogoutToken;

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('Back-Channel Logout 1.0', () => {
  let app: RunningApp;
  let second: RunningApp;
  const state = testState();

  beforeAll(async () => {
    app = await startApp({ OIDC_UNLINKED_IDENTITY: 'create' }, 0);
    second = await startAppProcess({ OIDC_UNLINKED_IDENTITY: 'create' }, 1);
  });
  afterAll(async () => {
    await second.close();
    await app.close();
    await state.close();
  });

  it('the user signs out at the OP: by the time the OP answers, the app session answers 401', async () => {
    const d = await device(app.url, 'u50');
    expect(await status(app.url, d)).toBe(200);
    expect(await state.exists(`oidc:vault:{session:${d.sessionId}}:refresh_token`)).toBe(1);
    const logged = app.logs.length;
    expect(await signOutAtOp(d)).toBeLessThan(400);
    expect(await status(app.url, d)).toBe(401);
    expect(await state.exists(`oidc:vault:{session:${d.sessionId}}:refresh_token`, `oidc:vault:{session:${d.sessionId}}:id_token`)).toBe(0);
    const row = await withDb(async (db) => (await db.query('SELECT revoked_reason FROM sessions WHERE id = $1', [d.sessionId])).rows[0]);
    expect(row.revoked_reason).toBe('backchannel_logout');
    // One line for the accepted logout: the audit line, with keyed tags of sub and sid (never the values).
    const lines = app.logs.slice(logged).map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.msg === 'audit' && l.event === 'backchannel_logout')).toEqual([
      expect.objectContaining({ outcome: 'accepted', by: 'sid', revokedSessions: 1, subTag: expect.stringMatching(/^[0-9a-f]{12}$/), sidTag: expect.stringMatching(/^[0-9a-f]{12}$/) }),
    ]);
    expect(app.logs.slice(logged).some((l) => l.includes('bcl.accepted') || l.includes(d.sid))).toBe(false);
    // Its outbox entry (queued with the revocation) is gone once the tokens are: within milliseconds.
    const queued = () => withDb(async (db) => (await db.query('SELECT count(*)::int AS n FROM session_token_outbox WHERE session_id = $1', [d.sessionId])).rows[0].n as number);
    expect(await eventually(queued, (n) => n === 0, 1_000)).toBe(0);
  });

  it('two devices with different OP sessions: signing out one sid leaves the other alive', async () => {
    const a = await device(app.url, 'u51');
    const b = await device(app.url, 'u51');
    expect(a.sid).not.toBe(b.sid);
    await signOutAtOp(a);
    expect(await status(app.url, a)).toBe(401);
    expect(await status(app.url, b)).toBe(200);
  });

  it('a token with sid and sub revokes only the sid\'s sessions', async () => {
    const a = await device(app.url, 'u52');
    const b = await device(app.url, 'u52');
    const response = await postToken(app.url, await logoutToken({ sub: 'u52', sid: a.sid }));
    expect(response.status).toBe(200);
    expect(await status(app.url, a)).toBe(401);
    expect(await status(app.url, b)).toBe(200);
  });

  it('a token with sub and no sid ends all of that user\'s sessions (and only theirs)', async () => {
    const a = await device(app.url, 'u53');
    const b = await device(app.url, 'u53');
    const other = await device(app.url, 'u54');
    const response = await postToken(app.url, await logoutToken({ sub: 'u53' }));
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.text()).toBe('');
    expect(await status(app.url, a)).toBe(401);
    expect(await status(app.url, b)).toBe(401);
    expect(await status(app.url, other)).toBe(200);
  });

  it('logouts that arrive together are revoked together (one statement), each exactly once', async () => {
    const [a, b, c1, c2] = [await device(app.url, 'u183'), await device(app.url, 'u184'), await device(app.url, 'u185'), await device(app.url, 'u185')];
    const bystander = await device(app.url, 'u186');
    const logged = app.logs.length;
    const twice = await logoutToken({ sid: a.sid });
    const sends = [
      twice,
      twice, // the same jti in the same batch: one of the two is a replay
      await logoutToken({ sid: b.sid }),
      await logoutToken({ sid: b.sid }), // the same OP session twice (another jti): both accepted, revoked once
      await logoutToken({ sub: 'u185' }), // a subject, and one of its sessions by sid in the same batch
      await logoutToken({ sid: c1.sid }),
      ...(await Promise.all(Array.from({ length: 22 }, (_, i) => logoutToken({ sid: `no-such-sid-${i}` })))),
      // Values the array parameters must carry as they are (quotes, braces, commas, backslashes, NULL).
      await logoutToken({ sid: 'NULL' }),
      await logoutToken({ sub: 'we"ird,{sub}\\ ü' }),
    ];
    const statuses = await Promise.all(sends.map(async (token) => (await postToken(app.url, token)).status));
    expect(statuses.slice(0, 2).sort()).toEqual([200, 400]);
    expect(statuses.slice(2)).toEqual(sends.slice(2).map(() => 200));
    for (const d of [a, b, c1, c2]) expect(await status(app.url, d)).toBe(401);
    expect(await status(app.url, bystander)).toBe(200);
    const lines = app.logs.slice(logged).map((l) => JSON.parse(l));
    // They were batched (at least one statement served several tokens)…
    expect(lines.filter((l) => l.msg === 'bcl.revocation_batch').map((l) => l.size)).toContainEqual(expect.any(Number));
    // …and each session was revoked once, by one of the tokens: four sessions in all.
    const accepted = lines.filter((l) => l.msg === 'audit' && l.event === 'backchannel_logout' && l.outcome === 'accepted');
    expect(accepted).toHaveLength(sends.length - 1);
    expect(accepted.reduce((sum, l) => sum + l.revokedSessions, 0)).toBe(4);
    expect(lines.filter((l) => l.msg === 'audit' && l.event === 'backchannel_logout' && l.outcome === 'replay')).toHaveLength(1);
    const rows = await withDb(async (db) => (await db.query('SELECT revoked_reason FROM sessions WHERE id = ANY($1::uuid[])', [[a, b, c1, c2].map((d) => d.sessionId)])).rows);
    expect(rows.map((r) => r.revoked_reason)).toEqual(['backchannel_logout', 'backchannel_logout', 'backchannel_logout', 'backchannel_logout']);
    // The ended OP sessions are remembered against logins in flight (one row for the sid posted twice).
    const ended = await withDb(async (db) => (await db.query(`SELECT kind, count(*)::int AS n FROM backchannel_ended_op_sessions WHERE value_hash = ANY($1) GROUP BY kind ORDER BY kind`, [[sha256(b.sid), sha256('u185'), sha256(c1.sid)]])).rows);
    expect(ended).toEqual([{ kind: 'sid', n: 2 }, { kind: 'sub', n: 1 }]);
    const odd = await withDb(async (db) => (await db.query(`SELECT kind FROM backchannel_ended_op_sessions WHERE value_hash = ANY($1) ORDER BY kind`, [[sha256('NULL'), sha256('we"ird,{sub}\\ ü')]])).rows);
    expect(odd).toEqual([{ kind: 'sid' }, { kind: 'sub' }]);
  });

  it('a burst of logouts shares vault sweeps, and each 200 still comes after its session\'s tokens are gone', async () => {
    const devices = await Promise.all(Array.from({ length: 8 }, (_, i) => device(app.url, `u${190 + i}`)));
    const keys = (d: Device) => ['id_token', 'access_token', 'refresh_token'].map((kind) => `oidc:vault:{session:${d.sessionId}}:${kind}`);
    for (const d of devices) expect(await state.exists(...keys(d))).toBeGreaterThanOrEqual(2);
    const logged = app.logs.length;
    const tokens = await Promise.all(devices.map((d) => logoutToken({ sid: d.sid })));
    // Each answer is checked as it arrives, while the others may still be at work.
    const left = await Promise.all(
      devices.map(async (d, i) => {
        const response = await postToken(app.url, tokens[i]);
        return { status: response.status, left: await state.exists(...keys(d)) };
      }),
    );
    expect(left).toEqual(devices.map(() => ({ status: 200, left: 0 })));
    for (const d of devices) expect(await status(app.url, d)).toBe(401);
    const lines = app.logs.slice(logged).map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.msg === 'session.sweep_batch').map((l) => l.size)).toContainEqual(expect.any(Number));
    // The refresh tokens were revoked at the OP before they were deleted, one by one.
    const ids = new Set(devices.map((d) => d.sessionId));
    expect(lines.filter((l) => l.msg === 'refresh_revocation.done' && ids.has(l.sessionId))).toHaveLength(devices.length);
  });

  it('one statement for the tokens of one turn: values carried as they are, a jti twice claimed once, a failing batch retried token by token', async () => {
    const rows = app.app.get(SessionRepository, { strict: false });
    const until = new Date(Date.now() + 60_000);
    const target = (value: string, jti = randomUUID(), kind: 'sid' | 'sub' = 'sid') => ({
      issuer: e2e().opUrl,
      jtiHash: sha256(jti),
      ...(kind === 'sid' ? { sid: value } : { subject: value }),
      issuedAt: Math.floor(Date.now() / 1000),
      recordUntil: until,
      rememberEndedUntil: until,
    });
    const jti = randomUUID();
    const logged = app.logs.length;
    // Asked for in one turn: one statement.
    const outcomes = await Promise.all([
      rows.revokeForLogoutToken(target('NULL')),
      rows.revokeForLogoutToken(target('we"ird,{sub}\\ ü', randomUUID(), 'sub')),
      rows.revokeForLogoutToken(target('same-jti-a', jti)),
      rows.revokeForLogoutToken(target('same-jti-b', jti)),
    ]);
    expect(app.logs.slice(logged).map((l) => JSON.parse(l)).filter((l) => l.msg === 'bcl.revocation_batch')).toEqual([expect.objectContaining({ size: 4 })]);
    expect(outcomes.map((o) => o.claimed)).toEqual([true, true, true, false]);
    const ended = await withDb(async (db) => (await db.query(`SELECT kind FROM backchannel_ended_op_sessions WHERE value_hash = ANY($1) ORDER BY kind`, [[sha256('NULL'), sha256('we"ird,{sub}\\ ü'), sha256('same-jti-a'), sha256('same-jti-b')]])).rows);
    expect(ended).toEqual([{ kind: 'sid' }, { kind: 'sid' }, { kind: 'sub' }]);
    // A value Postgres refuses (a NUL byte) fails the batch: the others are then revoked one by one and
    // only that token gets the error.
    const [good, bad] = await Promise.allSettled([rows.revokeForLogoutToken(target('fine-sid')), rows.revokeForLogoutToken(target('bad\u0000sid'))]);
    expect(good).toMatchObject({ status: 'fulfilled', value: { claimed: true } });
    expect(bad.status).toBe('rejected');
  });

  it('reads the form however it is framed or encoded: charset, chunked, gzip, parameters around it', async () => {
    const { gzipSync } = await import('node:zlib');
    const d = await device(app.url, 'u182');
    const token = async () => `logout_token=${await logoutToken({ sid: d.sid })}`;
    const url = `${app.url}/auth/oidc/backchannel-logout`;
    const sends: Array<() => Promise<Response>> = [
      async () => postForm(app.url, `__proto__=x&${await token()}&x=%E0%A4%A`, 'Application/X-WWW-Form-URLEncoded; charset=UTF-8'),
      async () => fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new Blob([await token()]).stream(), duplex: 'half' } as RequestInit),
      async () => fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip' }, body: gzipSync(await token()) }),
      async () => postForm(app.url, await token(), 'application/x-www-form-urlencoded; charset=iso-8859-1'),
      async () => postForm(app.url, `\uFEFF${await token()}`), // a byte order mark first
    ];
    for (const send of sends) {
      const response = await send();
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('');
    }
    expect(await status(app.url, d)).toBe(401);
  });

  it('a token that matches no session is still a success', async () => {
    const response = await postToken(app.url, await logoutToken({ sid: 'no-such-sid' }));
    expect(response.status).toBe(200);
  });

  describe('every invalid logout token gets 400 and changes no session', () => {
    let victim: Device;
    beforeAll(async () => {
      victim = await device(app.url, 'u55');
    });

    const now = () => Math.floor(Date.now() / 1000);
    const cases: Array<[string, () => Promise<Response>]> = [
      ['alg none', async () => postToken(app.url, `${b64({ alg: 'none', typ: 'logout+jwt' })}.${b64({ iss: e2e().opUrl, aud: e2e().clientId, iat: now(), exp: now() + 60, jti: randomUUID(), events: { [EVENT]: {} }, sid: victim.sid })}.`)],
      ['HMAC signed with the OP public key', async () => {
        const { publicJwk, kid } = await opKey();
        const { createPublicKey } = await import('node:crypto');
        const pem = createPublicKey({ key: publicJwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
        const token = await new SignJWT({ iss: e2e().opUrl, aud: e2e().clientId, iat: now(), exp: now() + 60, jti: randomUUID(), events: { [EVENT]: {} }, sid: victim.sid })
          .setProtectedHeader({ alg: 'HS256', kid, typ: 'logout+jwt' })
          .sign(Buffer.from(pem));
        return postToken(app.url, token);
      }],
      ['signed by another key claiming the OP kid', async () => {
        const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const { kid } = await opKey();
        const token = await new SignJWT({ iss: e2e().opUrl, aud: e2e().clientId, iat: now(), exp: now() + 60, jti: randomUUID(), events: { [EVENT]: {} }, sid: victim.sid })
          .setProtectedHeader({ alg: 'RS256', kid })
          .sign(privateKey);
        return postToken(app.url, token);
      }],
      ['wrong iss', async () => postToken(app.url, await logoutToken({ sid: victim.sid, iss: 'https://evil.example.com' }))],
      ['wrong aud', async () => postToken(app.url, await logoutToken({ sid: victim.sid, aud: 'another-client' }))],
      ['expired', async () => postToken(app.url, await logoutToken({ sid: victim.sid, iat: now() - 600, exp: now() - 300 }))],
      ['no exp', async () => postToken(app.url, await logoutToken({ sid: victim.sid, exp: undefined }))],
      ['iat in the future', async () => postToken(app.url, await logoutToken({ sid: victim.sid, iat: now() + 600, exp: now() + 900 }))],
      ['no iat', async () => postToken(app.url, await logoutToken({ sid: victim.sid, iat: undefined }))],
      ['missing jti', async () => postToken(app.url, await logoutToken({ sid: victim.sid, jti: undefined }))],
      ['events missing', async () => postToken(app.url, await logoutToken({ sid: victim.sid, events: undefined }))],
      ['events member not an object', async () => postToken(app.url, await logoutToken({ sid: victim.sid, events: { [EVENT]: 'yes' } }))],
      ['events member null', async () => postToken(app.url, await logoutToken({ sid: victim.sid, events: { [EVENT]: null } }))],
      ['events as an array', async () => postToken(app.url, await logoutToken({ sid: victim.sid, events: [EVENT] }))],
      ['events of another kind', async () => postToken(app.url, await logoutToken({ sid: victim.sid, events: { 'http://example.com/other': {} } }))],
      ['a nonce', async () => postToken(app.url, await logoutToken({ sid: victim.sid, nonce: 'n-0S6_WzA2Mj' }))],
      ['neither sub nor sid', async () => postToken(app.url, await logoutToken({}))],
      ['sid not a string', async () => postToken(app.url, await logoutToken({ sid: 42 as unknown as string }))],
      ['wrong typ', async () => postToken(app.url, await logoutToken({ sid: victim.sid }, { typ: 'at+jwt' }))],
      ['typ of an ID token', async () => postToken(app.url, await logoutToken({ sid: victim.sid }, { typ: 'id_token+jwt' }))],
      ['malformed JWT', async () => postToken(app.url, 'not.a.jwt')],
      ['two-part JWT', async () => postToken(app.url, 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0')],
      ['missing logout_token', async () => postForm(app.url, 'something=else')],
      ['empty body', async () => postForm(app.url, '')],
      ['JSON body', async () => postForm(app.url, JSON.stringify({ logout_token: await logoutToken({ sid: victim.sid }) }), 'application/json')],
      ['text body', async () => postForm(app.url, `logout_token=${await logoutToken({ sid: victim.sid })}`, 'text/plain')],
      ['oversized body', async () => postForm(app.url, `logout_token=${'a'.repeat(100_000)}`)],
      ['oversized token within the body limit', async () => postForm(app.url, `logout_token=${'a'.repeat(20_000)}`)],
      ['logout_token twice (a valid one and another)', async () => postForm(app.url, `logout_token=${await logoutToken({ sid: victim.sid })}&logout_token=x`)],
      ['more than 1,000 form parameters', async () => postForm(app.url, `logout_token=${await logoutToken({ sid: victim.sid })}${'&a=1'.repeat(1000)}`)],
      ['logout_token only under a bracketed name', async () => postForm(app.url, `logout_token[]=${await logoutToken({ sid: victim.sid })}`)],
      ['a charset body-parser does not read', async () => postForm(app.url, `logout_token=${await logoutToken({ sid: victim.sid })}`, 'application/x-www-form-urlencoded; charset=koi8-r')],
      ['a malformed content type (unbalanced quote)', async () => postForm(app.url, `logout_token=${await logoutToken({ sid: victim.sid })}`, 'application/x-www-form-urlencoded; charset=utf-8"')],
      ['iat out of range', async () => postToken(app.url, await logoutToken({ sid: victim.sid, iat: -1e300 }))],
      ['exp out of range', async () => postToken(app.url, await logoutToken({ sid: victim.sid, exp: 1e300 }))],
      ['a content type ending in a non-breaking space', async () => postForm(app.url, `logout_token=${await logoutToken({ sid: victim.sid })}`, 'application/x-www-form-urlencoded\u00a0')],
      ['a NUL character in sid', async () => postToken(app.url, await logoutToken({ sid: `${victim.sid}\u0000` }))],
      ['a NUL character in sub', async () => postToken(app.url, await logoutToken({ sub: `${victim.subject}\u0000x` }))],
    ];

    it.each(cases)('%s', async (_name, send) => {
      const logged = app.logs.length;
      const response = await send();
      expect(response.status).toBe(400);
      expect(response.headers.get('cache-control')).toBe('no-store');
      const body = await jsonBody(response);
      expect(body).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
      expect(await status(app.url, victim)).toBe(200);
      // One structured log line per rejection, with the reason.
      const rejected = app.logs.slice(logged).map((l) => JSON.parse(l)).filter((l) => l.msg === 'bcl.rejected');
      expect(rejected).toEqual([expect.objectContaining({ reason: body.error_description })]);
    });

    it('a replayed jti', async () => {
      const token = await logoutToken({ sid: `unused-${randomUUID()}` });
      expect((await postToken(app.url, token)).status).toBe(200);
      const replay = await postToken(app.url, token);
      expect(replay.status).toBe(400);
      expect((await jsonBody(replay)).error_description).toMatch(/already used/);
      expect(app.logs.some((l) => l.includes('"bcl.replay"'))).toBe(true);
      expect(await status(app.url, victim)).toBe(200);
    });

    it('a key that is not in the OP key set (a forger, or a rotation in progress): 503, retryable, nothing changes', async () => {
      const { privateKey } = await generateKeyPair('RS256');
      const token = await new SignJWT({ iss: e2e().opUrl, aud: e2e().clientId, iat: now(), exp: now() + 60, jti: randomUUID(), events: { [EVENT]: {} }, sid: victim.sid })
        .setProtectedHeader({ alg: 'RS256', kid: 'attacker-key' })
        .sign(privateKey);
      const response = await postToken(app.url, token);
      expect(response.status).toBe(503);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await jsonBody(response)).toEqual({ error: 'temporarily_unavailable', error_description: expect.stringMatching(/not \(yet\) in the OpenID Provider key set/) });
      expect(await status(app.url, victim)).toBe(200);
    });

    it('the replay record is kept in Postgres, hashed, no longer than the token (plus tolerance)', async () => {
      const jti = randomUUID();
      const issuedAt = now();
      await postToken(app.url, await logoutToken({ sid: `unused-${randomUUID()}`, jti, iat: issuedAt, exp: issuedAt + 120 }));
      const rows = await withDb(async (db) => (await db.query('SELECT jti_hash, expires_at FROM backchannel_logout_jtis WHERE issuer = $1', [e2e().opUrl])).rows);
      expect(rows.some((r) => r.jti_hash === jti)).toBe(false);
      const row = rows.find((r) => r.jti_hash === sha256(jti));
      expect(row).toBeDefined();
      expect(Math.round(new Date(row.expires_at).getTime() / 1000)).toBe(issuedAt + 120 + 30);
    });
  });

  it('Postgres down during the revocation: 503, nothing recorded, and the same token succeeds once it is back', async () => {
    const port = await freePort();
    const dbUrl = new URL(e2e().databaseUrl);
    const proxy = new TcpProxy(dbUrl.hostname, Number(dbUrl.port || 5432), port);
    await proxy.start();
    dbUrl.host = `127.0.0.1:${port}`;
    await second.close();
    const flaky = await startAppProcess({ OIDC_UNLINKED_IDENTITY: 'create', DATABASE_URL: dbUrl.href }, 1);
    try {
      const d = await device(app.url, 'u56');
      const token = await logoutToken({ sid: d.sid });
      await proxy.stop();
      const failed = await postToken(flaky.url, token);
      expect(failed.status).toBe(503);
      const reason = 'The logout could not be recorded; retry later';
      expect(await failed.json()).toEqual({ error: 'temporarily_unavailable', error_description: reason });
      expect(await status(app.url, d)).toBe(200);
      // Requests that need the database answer 503 meanwhile, without internals.
      const down = await fetch(`${flaky.url}/auth/session`, { headers: bearer(d.token) });
      expect(down.status).toBe(503);
      expect(await jsonBody(down)).toEqual({ error: 'service_unavailable', message: 'A backing service is unavailable; retry later' });

      await proxy.start();
      const retried = await postToken(flaky.url, token);
      expect(retried.status).toBe(200);
      expect(await status(app.url, d)).toBe(401);
    } finally {
      await flaky.close();
      await proxy.stop();
      second = await startAppProcess({ OIDC_UNLINKED_IDENTITY: 'create' }, 1);
    }
  });

  it('two app instances (two processes): a logout_token sent to one makes the session answer 401 on the other', async () => {
    const d = await device(second.url, 'u57');
    expect(await status(second.url, d)).toBe(200);
    // The OP's back-channel URI is the first instance; the user signs out at the OP.
    expect(await signOutAtOp(d)).toBeLessThan(400);
    expect(await status(second.url, d)).toBe(401);
    expect(await status(app.url, d)).toBe(401);
  });
});

describe('Back-Channel Logout from an OP that predates errata 1 (logout tokens without exp)', () => {
  const noExp = async (sid: string, iat: number) => logoutToken({ sid, iat, exp: undefined });
  const nowSec = () => Math.floor(Date.now() / 1000);

  it('is refused by default', async () => {
    const app = await startApp({ OIDC_UNLINKED_IDENTITY: 'create' }, 0);
    try {
      const d = await device(app.url, 'u62');
      const refused = await postToken(app.url, await noExp(d.sid, nowSec()));
      expect(refused.status).toBe(400);
      expect((await jsonBody(refused)).error_description).toMatch(/exp/);
      expect(await status(app.url, d)).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('with the opt-in: accepted while iat is fresh, refused when older than the window, a replay inside the window refused', async () => {
    const app = await startApp({ OIDC_UNLINKED_IDENTITY: 'create', OIDC_BACKCHANNEL_ALLOW_MISSING_EXP: 'true', OIDC_BACKCHANNEL_MAX_AGE: '2m' }, 0);
    try {
      expect(app.logs.some((l) => l.includes('"backchannel.allow_missing_exp"'))).toBe(true);
      const stale = await device(app.url, 'u63');
      const old = await postToken(app.url, await noExp(stale.sid, nowSec() - 121 - 30));
      expect(old.status).toBe(400);
      expect((await jsonBody(old)).error_description).toMatch(/older than OIDC_BACKCHANNEL_MAX_AGE/);
      expect(await status(app.url, stale)).toBe(200);

      const fresh = await device(app.url, 'u64');
      const jti = randomUUID();
      const issuedAt = nowSec() - 5;
      const token = await logoutToken({ sid: fresh.sid, iat: issuedAt, exp: undefined, jti });
      expect((await postToken(app.url, token)).status).toBe(200);
      expect(await status(app.url, fresh)).toBe(401);
      const replay = await postToken(app.url, token);
      expect(replay.status).toBe(400);
      expect((await jsonBody(replay)).error_description).toMatch(/already used/);
      // The replay record covers the whole window the token could be accepted in.
      const [row] = await withDb(async (db) => (await db.query('SELECT expires_at FROM backchannel_logout_jtis WHERE jti_hash = $1', [sha256(jti)])).rows);
      expect(Math.round(new Date(row.expires_at).getTime() / 1000)).toBe(issuedAt + 120 + 30);
      // Every other rule stays strict: no iat is still refused.
      expect((await postToken(app.url, await logoutToken({ sid: stale.sid, iat: undefined, exp: undefined }))).status).toBe(400);
    } finally {
      await app.close();
    }
  });
});
