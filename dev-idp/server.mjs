// Development OpenID Provider for the demo, the e2e tests and docker-compose, built on `oidc-provider`.
// Back-channel and RP-initiated logout on, Front-Channel Logout 1.0 added here (oidc-provider 9 has
// none) for clients that register a `frontchannel_logout_uri`, PKCE required, `sid` in ID tokens,
// refresh tokens and revocation on, one confidential client matching the app's defaults, and a login form that accepts
// the local test users (dev-idp/users.json, or DEV_IDP_USERS_FILE). Never use it in production.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const port = Number(env.DEV_IDP_PORT ?? 4000);
const issuer = env.DEV_IDP_ISSUER ?? `http://localhost:${port}`;
const appUrl = env.DEV_IDP_APP_URL ?? 'http://localhost:3000';
const list = (value, fallback) => (value ?? fallback).split(',').map((s) => s.trim()).filter(Boolean);

const client = {
  client_id: env.DEV_IDP_CLIENT_ID ?? 'demo-app',
  client_secret: env.DEV_IDP_CLIENT_SECRET ?? 'demo-app-secret-change-me',
  redirect_uris: list(env.DEV_IDP_REDIRECT_URIS, `${appUrl}/auth/oidc/callback`),
  post_logout_redirect_uris: list(env.DEV_IDP_POST_LOGOUT_REDIRECT_URIS, `${appUrl}/logged-out,${appUrl}/`),
  backchannel_logout_uri: env.DEV_IDP_BACKCHANNEL_LOGOUT_URI ?? `${appUrl}/auth/oidc/backchannel-logout`,
  backchannel_logout_session_required: true,
  // Front-Channel Logout 1.0 (off unless set): loaded in an iframe, with iss and sid, when the user logs out here.
  ...(env.DEV_IDP_FRONTCHANNEL_LOGOUT_URI
    ? { frontchannel_logout_uri: env.DEV_IDP_FRONTCHANNEL_LOGOUT_URI, frontchannel_logout_session_required: true }
    : {}),
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: env.DEV_IDP_CLIENT_AUTH ?? 'client_secret_post',
  // auth_time in every ID token, so the app can show and check when the user last authenticated.
  require_auth_time: true,
};
// An empty DEV_IDP_BACKCHANNEL_LOGOUT_URI registers no back-channel logout (e.g. a front-channel-only client).
if (!client.backchannel_logout_uri) {
  delete client.backchannel_logout_uri;
  delete client.backchannel_logout_session_required;
}
// private_key_jwt: the client's public keys (a JWKS as JSON); the secret is then not used.
if (env.DEV_IDP_CLIENT_JWKS) {
  client.jwks = JSON.parse(env.DEV_IDP_CLIENT_JWKS);
  delete client.client_secret;
}
// More clients (JSON array of client metadata), e.g. a second app or a private_key_jwt client.
const clients = [client, ...JSON.parse(env.DEV_IDP_EXTRA_CLIENTS ?? '[]')].map((c) => ({ require_auth_time: true, ...c }));

/** Authentication context classes: a password alone, or a password and the (simulated) second factor. */
const ACR_PASSWORD = 'urn:dev:loa:1';
const ACR_MFA = 'urn:dev:loa:2';

const usersFile = env.DEV_IDP_USERS_FILE ?? join(here, 'users.json');
const users = JSON.parse(readFileSync(usersFile, 'utf8'));

async function signingKeys() {
  const file = env.DEV_IDP_JWKS_FILE;
  if (file && existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwks = { keys: [{ ...(await exportJWK(privateKey)), kid: `dev-${Date.now()}`, alg: 'RS256', use: 'sig' }] };
  if (file) writeFileSync(file, JSON.stringify(jwks));
  return jwks;
}

const provider = new Provider(issuer, {
  clients,
  acrValues: [ACR_PASSWORD, ACR_MFA],
  jwks: await signingKeys(),
  // oidc-provider >= 9.7 refuses to call special-use addresses (loopback) from its default fetch;
  // the dev OP calls the app on localhost, so it uses plain fetch without the SSRF dispatcher.
  fetch: (url, { dispatcher: _dispatcher, ...options }) => globalThis.fetch(url, options),
  findAccount: async (_ctx, id) => {
    const user = users[id];
    if (!user) return undefined;
    return {
      accountId: id,
      claims: async () => ({ sub: id, email: user.email, email_verified: user.email_verified === true, name: user.name }),
    };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // Front-Channel Logout 1.0 client metadata (not known to oidc-provider 9), checked here.
  extraClientMetadata: { properties: ['frontchannel_logout_uri', 'frontchannel_logout_session_required'], validator: frontchannelMetadata },
  discovery: { frontchannel_logout_supported: true, frontchannel_logout_session_supported: true },
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    revocation: { enabled: true },
  },
  pkce: { required: () => true },
  issueRefreshToken: async (_ctx, c) => c.grantTypeAllowed('refresh_token'),
  // A first-party client: consent is implied, so the grant is created without a consent screen.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      const existing = await ctx.oidc.provider.Grant.find(grantId);
      if (existing) return existing;
    }
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile email offline_access');
    grant.addOIDCClaims(['email', 'email_verified', 'name']);
    await grant.save();
    return grant;
  },
  // Refresh tokens rotate: each refresh grant consumes the presented one and issues a new one.
  rotateRefreshToken: true,
  ttl: { Session: 3600, Interaction: 600, Grant: 86400, AccessToken: Number(env.DEV_IDP_ACCESS_TOKEN_TTL ?? 600), IdToken: 3600, RefreshToken: 86400 },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  // Cookies are not isolated by port: two dev OPs on one host (the demo's partner OP, the tests) would
  // overwrite each other's session cookie. The names carry the port.
  cookies: { names: { session: `_session_${port}`, interaction: `_interaction_${port}`, resume: `_interaction_resume_${port}` } },
});
provider.proxy = true;
provider.on('backchannel.error', (_ctx, error, c) => console.error(JSON.stringify({ msg: 'backchannel.error', client: c.clientId, error: error.message })));
// One line per token grant (no token in it), so that tests can count refresh grants.
provider.on('grant.success', (ctx) => console.log(JSON.stringify({ msg: 'grant.success', grant_type: ctx.oidc.params.grant_type, client: ctx.oidc.client?.clientId })));
provider.on('server_error', (_ctx, error) => console.error(JSON.stringify({ msg: 'server_error', error: error.message })));

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Validates the front-channel client metadata: an absolute http(s) URI without fragment, a boolean. */
function frontchannelMetadata(_ctx, key, value) {
  if (value === undefined) return;
  if (key === 'frontchannel_logout_session_required' && typeof value !== 'boolean') {
    throw new errors.InvalidClientMetadata('frontchannel_logout_session_required must be a boolean');
  }
  if (key === 'frontchannel_logout_uri') {
    let url;
    try {
      url = new URL(value);
    } catch {
      throw new errors.InvalidClientMetadata('frontchannel_logout_uri must be an absolute URI');
    }
    if (!['http:', 'https:'].includes(url.protocol) || url.hash) {
      throw new errors.InvalidClientMetadata('frontchannel_logout_uri must be an http(s) URI without fragment');
    }
  }
}

// The ID tokens of a client that requires the session for front-channel logout carry `sid` too
// (oidc-provider adds it only for back-channel clients).
const includeSid = provider.Client.prototype.includeSid;
provider.Client.prototype.includeSid = function includeSidForLogout() {
  return includeSid.call(this) || Boolean(this.frontchannel_logout_uri && this.frontchannel_logout_session_required);
};

/**
 * Front-Channel Logout 1.0 (section 4): once the user has confirmed the logout at the end-session
 * page, the OP renders the frontchannel_logout_uri of every client that took part in this OP session
 * (with `iss` and the `sid` of that client's ID tokens, when it requires them) in hidden iframes, then
 * continues where oidc-provider would have redirected (the post_logout_redirect_uri, or its success
 * page). Same clients as its back-channel logout: all of the session's with "Yes, sign me out", only
 * the requesting client with "No". oidc-provider forgets the session while it handles the
 * confirmation, so the session's clients and sids are read before it runs.
 */
provider.use(async (ctx, next) => {
  if (ctx.method !== 'POST' || ctx.path !== '/session/end/confirm') return next();
  // A copy: oidc-provider changes the stored session's objects in place as it logs out.
  const { accountId, state, authorizations } = await provider.Session.get(ctx);
  const before = structuredClone({ accountId, state, authorizations });
  await next();
  const target = ctx.response.get('location');
  if (ctx.status !== 303 || !target || !before.accountId) return;
  const everyone = Boolean(ctx.oidc.params?.logout);
  const frames = [];
  for (const [clientId, { sid } = {}] of Object.entries(before.authorizations ?? {})) {
    if (!everyone && clientId !== before.state?.clientId) continue;
    const client = await provider.Client.find(clientId).catch(() => undefined);
    if (!client?.frontchannel_logout_uri) continue;
    const url = new URL(client.frontchannel_logout_uri);
    if (client.frontchannel_logout_session_required && sid) {
      url.searchParams.set('iss', issuer);
      url.searchParams.set('sid', sid);
    }
    frames.push({ clientId, url: url.href });
  }
  if (frames.length === 0) return;
  console.log(JSON.stringify({ msg: 'frontchannel.logout', clients: frames.map((f) => f.clientId) }));
  ctx.status = 200;
  ctx.remove('location');
  ctx.type = 'html';
  ctx.body = frontchannelPage(frames.map((f) => f.url), target);
});

/** The page that loads the front-channel logout URIs, then (when they have loaded, or after 5 s) goes on to `target`. */
function frontchannelPage(urls, target) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Signing out</title>
<noscript><meta http-equiv="refresh" content="2;url=${escape(target)}"></noscript></head><body>
<h1>Signing out</h1>
${urls.map((url) => `<iframe hidden title="front-channel logout" data-frontchannel-logout src="${escape(url)}"></iframe>`).join('\n')}
<p><a id="continue" href="${escape(target)}">Continue</a></p>
<script>
// The window's load event waits for every iframe: then continue (at the latest after 5 s).
const go = () => location.replace(document.getElementById('continue').href);
addEventListener('load', go);
setTimeout(go, 5000);
</script></body></html>`;
}
function loginPage(uid, error) {
  return `<!doctype html><html><head><title>Dev OP sign-in</title></head><body>
<h1>Development OpenID Provider</h1>${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Username <input name="username" autofocus></label>
<label>Password <input name="password" type="password"></label>
<label><input name="mfa" type="checkbox"> Second factor (simulated: acr ${ACR_MFA})</label>
<button type="submit">Sign in</button></form>
<p><a href="/interaction/${escape(uid)}/abort">Cancel</a></p></body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error('body too large');
  }
  return new URLSearchParams(body);
}

const callback = provider.callback();
const server = createServer(async (req, res) => {
  const match = /^\/interaction\/([\w-]+)(\/login|\/abort)?$/.exec(req.url.split('?')[0]);
  if (!match) return callback(req, res);
  try {
    const [, uid, action] = match;
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error('interaction mismatch');
    if (action === '/abort') {
      return await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The user cancelled the sign-in' }, { mergeWithLastSubmission: false });
    }
    if (action === '/login' && req.method === 'POST') {
      const form = await readForm(req);
      const username = form.get('username') ?? '';
      const user = users[username];
      if (!user || user.password !== form.get('password')) {
        res.writeHead(401, { 'content-type': 'text/html; charset=utf-8' });
        return res.end(loginPage(uid, 'Wrong username or password'));
      }
      // The "second factor" box stands for an MFA step: the session's acr says which one was done.
      const acr = form.get('mfa') ? ACR_MFA : ACR_PASSWORD;
      return await provider.interactionFinished(req, res, { login: { accountId: username, acr, amr: form.get('mfa') ? ['pwd', 'otp'] : ['pwd'] } }, { mergeWithLastSubmission: false });
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(loginPage(uid));
  } catch (error) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${error.message}`);
  }
});

server.listen(port, () => console.log(JSON.stringify({ msg: 'dev-idp.listening', issuer, client_id: client.client_id, redirect_uris: client.redirect_uris })));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
