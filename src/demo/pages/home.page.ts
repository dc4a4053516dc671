import { API_CALL_SCRIPT, renderPage } from './layout';

const BODY = `
<section id="loading" class="card"><p class="muted">Loading…</p></section>

<section id="signed-out" class="card" hidden>
  <h1>Welcome</h1>
  <p>You are not signed in. Sign in with the OpenID Provider; the first time, you choose to create an account here or
  link one you already have.</p>
  <div id="sign-in-buttons" class="actions"><a id="sign-in" class="button" href="/auth/oidc/login?return_to=%2F">Sign in</a></div>
</section>

<section id="failed" class="card" hidden>
  <h1>Something went wrong</h1>
  <p id="failed-text"></p>
  <div class="actions"><button id="retry" type="button">Try again</button></div>
</section>

<div id="signed-in" hidden>
  <section class="card">
    <h1>Hello, <span id="user-name"></span></h1>
    <p>Signed in as <strong id="user-email"></strong></p>
    <div class="actions">
      <button id="sign-out" type="button">Sign out</button>
      <button id="sign-out-everywhere" type="button" class="secondary">Sign out everywhere</button>
    </div>
    <p id="sign-out-error" class="alert" role="alert" hidden></p>
  </section>

  <section class="card">
    <h2>Your sessions</h2>
    <table id="sessions">
      <thead><tr><th>Device</th><th>Signed in</th><th>Last seen</th><th>Expires</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
    <p id="sessions-error" class="alert" role="alert" hidden></p>
  </section>

  <section class="card">
    <h2>Sign-in methods</h2>
    <p class="muted">The OpenID identities that sign in to this account. Linking another one asks you to sign in there.</p>
    <table id="identities">
      <thead><tr><th>Provider</th><th>Email there</th><th>Linked</th><th>Last used</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
    <div id="link-actions" class="actions"></div>
    <p id="identities-error" class="alert" role="alert" hidden></p>
  </section>

  <section class="card">
    <h2>What the provider says about you</h2>
    <p class="muted">Calls <code>GET /api/userinfo</code>: the app asks the OpenID Provider's UserInfo endpoint with your
    session's access token (refreshed when needed).</p>
    <button id="userinfo-button" type="button" class="secondary">Ask the provider</button>
    <dl id="userinfo" hidden></dl>
    <p id="userinfo-error" class="alert" role="alert" hidden></p>
  </section>
</div>
`;

// Plain browser JS: data is fetched after load (the page itself holds no user data and is not cached),
// every value is written with textContent, every state change is a same-origin JSON fetch.
const SCRIPT = `
const $ = (id) => document.getElementById(id);
const STATES = ['loading', 'signed-out', 'signed-in', 'failed'];
const show = (state) => STATES.forEach((s) => { $(s).hidden = s !== state; });
const when = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) : '–');

${API_CALL_SCRIPT}

function explain(result) {
  if (result.status === 0) return 'The app could not be reached. Check your connection and try again.';
  if (result.status === 503) return 'A service the app depends on is unavailable right now. Try again in a moment.';
  if (result.status === 403) return 'The request was refused because it did not come from this page. Reload and try again.';
  return (result.data && result.data.message) || 'Unexpected answer (HTTP ' + result.status + ').';
}

function fail(id, text) {
  $(id).textContent = text;
  $(id).hidden = false;
}

/** One "Sign in with …" button per configured provider (GET /auth/oidc/providers); one plain button when there is one. */
async function signInButtons() {
  const r = await api('GET', '/auth/oidc/providers');
  if (!r.ok || !r.data.providers || r.data.providers.length < 2) return;
  const box = $('sign-in-buttons');
  box.replaceChildren();
  r.data.providers.forEach((p, i) => {
    const a = document.createElement('a');
    a.className = i === 0 ? 'button' : 'button secondary';
    a.id = 'sign-in-' + p.id;
    a.href = '/auth/oidc/login?provider=' + encodeURIComponent(p.id) + '&return_to=%2F';
    a.textContent = 'Sign in with ' + p.displayName;
    box.appendChild(a);
  });
}

async function load() {
  show('loading');
  const me = await api('GET', '/auth/session');
  if (me.status === 401) {
    await signInButtons();
    return show('signed-out');
  }
  if (!me.ok) {
    $('failed-text').textContent = explain(me);
    return show('failed');
  }
  $('user-name').textContent = me.data.user.displayName || me.data.user.email || 'there';
  $('user-email').textContent = me.data.user.email || '(no email on this account)';
  show('signed-in');
  await Promise.all([loadSessions(), loadIdentities()]);
}

async function loadSessions() {
  $('sessions-error').hidden = true;
  const list = await api('GET', '/auth/sessions');
  if (list.status === 401) return show('signed-out');
  if (!list.ok) return fail('sessions-error', explain(list));
  const sessions = [...list.data.sessions].sort((a, b) => Number(b.current) - Number(a.current));
  const rows = sessions.map((s) => {
    const tr = document.createElement('tr');
    tr.dataset.sessionId = s.id;
    const device = document.createElement('td');
    device.textContent = browserName(s.userAgent) + ' ';
    if (s.userAgent) device.title = s.userAgent;
    if (s.current) {
      tr.className = 'current';
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = 'This device';
      device.append(badge);
    }
    const cells = [when(s.createdAt), when(s.lastSeenAt), when(s.expiresAt)].map((text) => {
      const td = document.createElement('td');
      td.textContent = text;
      return td;
    });
    const action = document.createElement('td');
    if (!s.current) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'danger';
      button.textContent = 'Sign out this one';
      button.addEventListener('click', () => revoke(s.id, button));
      action.append(button);
    }
    tr.append(device, ...cells, action);
    return tr;
  });
  $('sessions').tBodies[0].replaceChildren(...rows);
}

async function loadIdentities() {
  $('identities-error').hidden = true;
  const [list, providers] = await Promise.all([api('GET', '/auth/identities'), api('GET', '/auth/oidc/providers')]);
  if (list.status === 401) return show('signed-out');
  if (!list.ok) return fail('identities-error', explain(list));
  const names = new Map(providers.ok ? providers.data.providers.map((p) => [p.id, p.displayName || p.id]) : []);
  const rows = list.data.identities.map((i) => {
    const tr = document.createElement('tr');
    tr.dataset.identityId = i.id;
    const provider = document.createElement('td');
    provider.textContent = i.provider ? names.get(i.provider) || i.provider : 'No longer configured';
    provider.title = i.issuer;
    const cells = [i.email || '–', when(i.createdAt), when(i.lastLoginAt)].map((text) => {
      const td = document.createElement('td');
      td.textContent = text;
      return td;
    });
    const action = document.createElement('td');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'danger';
    button.textContent = 'Unlink';
    button.addEventListener('click', () => unlinkIdentity(i.id, button));
    action.append(button);
    tr.append(provider, ...cells, action);
    return tr;
  });
  $('identities').tBodies[0].replaceChildren(...rows);
  // A "Link" link for every configured provider this account has no identity of yet.
  const linked = new Set(list.data.identities.map((i) => i.provider));
  const links = [...names].filter(([id]) => !linked.has(id)).map(([id, name]) => {
    const a = document.createElement('a');
    a.className = 'button secondary';
    a.href = '/auth/oidc/link?provider=' + encodeURIComponent(id) + '&return_to=%2F';
    a.textContent = 'Link ' + name;
    return a;
  });
  $('link-actions').replaceChildren(...links);
}

async function unlinkIdentity(id, button) {
  $('identities-error').hidden = true;
  button.disabled = true;
  const r = await api('DELETE', '/auth/identities/' + encodeURIComponent(id));
  if (r.status === 401 && r.data && r.data.error === 'step_up_required' && r.data.stepUp && r.data.stepUp.loginUrl) {
    // Changing how the account signs in needs a recent sign-in: sign in again, then come back here.
    const again = new URL(r.data.stepUp.loginUrl);
    if (again.origin !== location.origin) return fail('identities-error', explain(r));
    again.searchParams.set('return_to', '/');
    return location.assign(again.pathname + again.search);
  }
  if (r.status === 401) return show('signed-out');
  if (r.status === 409) {
    button.disabled = false;
    return fail('identities-error', 'This is the only way to sign in to your account, so it stays. Link another identity first.');
  }
  if (!r.ok && r.status !== 404) {
    button.disabled = false;
    return fail('identities-error', explain(r));
  }
  // Unlinking the identity this session signed in with ends this session too.
  await load();
}

/** "Chrome 156 on Linux" from a User-Agent; the full string is the cell's tooltip. */
function browserName(userAgent) {
  if (!userAgent) return 'Unknown browser';
  const browser = /(Edg|OPR|Firefox|HeadlessChrome|Chrome|Version)[/]([0-9]+)/.exec(userAgent);
  const name = browser ? ({ Edg: 'Edge', OPR: 'Opera', Version: 'Safari' }[browser[1]] || browser[1]) + ' ' + browser[2] : userAgent.slice(0, 40);
  const os = /(Windows|Android|iPhone|iPad|Mac OS X|CrOS|Linux)/.exec(userAgent);
  const osName = os ? ({ 'Mac OS X': 'macOS', CrOS: 'ChromeOS' }[os[1]] || os[1]) : '';
  return osName ? name + ' on ' + osName : name;
}

async function revoke(id, button) {
  button.disabled = true;
  const r = await api('DELETE', '/auth/sessions/' + encodeURIComponent(id));
  if (r.status === 401) return show('signed-out');
  if (!r.ok && r.status !== 404) {
    button.disabled = false;
    return fail('sessions-error', explain(r));
  }
  await loadSessions();
}

async function signOut(everywhere) {
  $('sign-out-error').hidden = true;
  $('sign-out').disabled = $('sign-out-everywhere').disabled = true;
  const r = await api('POST', '/auth/oidc/logout', { everywhere });
  if (r.ok || r.status === 401) {
    // End the session at the provider too when the app says how; it comes back to /logged-out.
    return location.assign(r.ok && r.data && r.data.endSessionUrl ? r.data.endSessionUrl : '/logged-out');
  }
  $('sign-out').disabled = $('sign-out-everywhere').disabled = false;
  fail('sign-out-error', explain(r));
}

async function userinfo() {
  const button = $('userinfo-button');
  button.disabled = true;
  $('userinfo-error').hidden = true;
  const r = await api('GET', '/api/userinfo');
  button.disabled = false;
  if (r.status === 401) {
    $('userinfo').hidden = true;
    return fail('userinfo-error', 'Your session has ended (' + ((r.data && r.data.error) || 'unauthenticated') + '). Sign in again.');
  }
  if (!r.ok) return fail('userinfo-error', explain(r));
  const items = Object.entries(r.data).flatMap(([claim, value]) => {
    const dt = document.createElement('dt');
    dt.textContent = claim;
    const dd = document.createElement('dd');
    dd.textContent = typeof value === 'string' ? value : JSON.stringify(value);
    return [dt, dd];
  });
  $('userinfo').replaceChildren(...items);
  $('userinfo').hidden = false;
}

$('retry').addEventListener('click', load);
$('sign-out').addEventListener('click', () => signOut(false));
$('sign-out-everywhere').addEventListener('click', () => signOut(true));
$('userinfo-button').addEventListener('click', userinfo);
// Leaving the page wipes what it showed, and a page restored from the back/forward cache asks again:
// Back after signing out never shows the previous user.
addEventListener('pagehide', () => {
  show('loading');
  ['user-name', 'user-email'].forEach((id) => { $(id).textContent = ''; });
  $('sessions').tBodies[0].replaceChildren();
  $('identities').tBodies[0].replaceChildren();
  $('link-actions').replaceChildren();
  $('userinfo').replaceChildren();
});
addEventListener('pageshow', (event) => { if (event.persisted) load(); });
load();
`;

export function homePage(nonce: string): string {
  return renderPage(nonce, 'Home', BODY, SCRIPT);
}
