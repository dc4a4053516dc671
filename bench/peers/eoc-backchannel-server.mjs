// Bench-only peer: express-openid-connect's back-channel logout handler, to measure ours against it
// side by side (bench/throughput-bench.mjs starts it pinned to the app's CPU). A plain Express app with
// `auth({ backchannelLogout: { store } })`, where the store is Redis (ioredis), written as
// express-session stores (connect-redis) do: `set(key, session)` = one `SET key json EX ttl`.
// It checks what express-openid-connect checks (signature, iss, aud, exp, events, no nonce, sub/sid)
// and records the logout in Redis; it has no jti replay check and no durable revocation.
//   EOC_PORT EOC_ISSUER EOC_CLIENT_ID EOC_REDIS_URL node bench/peers/eoc-backchannel-server.mjs
import express from 'express';
import { auth } from 'express-openid-connect';
import { Redis } from 'ioredis';

const port = Number(process.env.EOC_PORT);
const redis = new Redis(process.env.EOC_REDIS_URL, { enableAutoPipelining: true });
const PREFIX = 'eoc-bench:';

/** The part of the express-session store interface that express-openid-connect calls. */
const store = {
  get(key, cb) {
    redis.get(PREFIX + key).then((v) => cb(null, v ? JSON.parse(v) : null), (e) => cb(e));
  },
  set(key, session, cb) {
    const ttl = Math.max(1, Math.ceil((session.cookie?.maxAge ?? 86_400_000) / 1000));
    redis.set(PREFIX + key, JSON.stringify(session), 'EX', ttl).then(() => cb?.(null), (e) => cb?.(e));
  },
  destroy(key, cb) {
    redis.del(PREFIX + key).then(() => cb?.(null), (e) => cb?.(e));
  },
};

const app = express();
app.use(
  auth({
    issuerBaseURL: process.env.EOC_ISSUER,
    baseURL: `http://127.0.0.1:${port}`,
    clientID: process.env.EOC_CLIENT_ID,
    clientSecret: 'demo-app-secret-change-me',
    secret: 'a-long-enough-bench-only-cookie-secret',
    authRequired: false,
    idpLogout: false,
    idTokenSigningAlg: 'RS256',
    // The code flow (its default response_mode, query): no login is made here, this only silences its
    // warning about form_post over http.
    authorizationParams: { response_type: 'code' },
    backchannelLogout: { store },
  }),
);
app.get('/ping', (req, res) => res.json({ ok: true }));
app.listen(port, '127.0.0.1');
