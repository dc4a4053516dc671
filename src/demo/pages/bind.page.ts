import { API_CALL_SCRIPT, renderPage } from './layout';

const BODY = `
<section id="loading" class="card"><p class="muted">Loading…</p></section>

<section id="dead" class="card" hidden>
  <h1>This sign-in cannot continue</h1>
  <p id="dead-text"></p>
  <div class="actions"><a class="button" href="/auth/oidc/login?return_to=%2F">Sign in again</a><a class="button secondary" href="/">Home</a></div>
</section>

<div id="ready" hidden>
  <section class="card">
    <h1>Finish signing in</h1>
    <p>You signed in at <strong id="issuer"></strong> as <strong id="who"></strong>. This site does not know that
    identity yet: create an account for it, or link an account you already have.</p>
    <p id="error" class="alert" role="alert" hidden></p>
  </section>

  <section id="create-section" class="card" hidden>
    <h2>Create a new account</h2>
    <p>A new account is made from what the provider verified: <strong id="create-email"></strong>.</p>
    <button id="create" type="button">Create account</button>
  </section>
  <p id="no-create" class="note" hidden></p>

  <section class="card">
    <h2>Link an account you already have</h2>
    <form id="confirm">
      <label>Email <input name="identifier" type="email" autocomplete="username" required></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
      <div class="actions"><button id="link" type="submit">Link account</button></div>
    </form>
  </section>
</div>
`;

const SCRIPT = `
const $ = (id) => document.getElementById(id);
const STATES = ['loading', 'dead', 'ready'];
const show = (state) => STATES.forEach((s) => { $(s).hidden = s !== state; });

// The token leaves the address bar (and the history) but is kept in this tab for a reload.
const fromUrl = new URLSearchParams(location.search).get('token');
if (fromUrl) sessionStorage.setItem('bindToken', fromUrl);
const token = fromUrl || sessionStorage.getItem('bindToken');
history.replaceState(null, '', '/bind');

const MESSAGES = {
  bind_token_invalid: 'This sign-in has expired or was already completed, or it was started in another browser. Sign in again to continue.',
  invalid_credentials: 'Wrong email or password.',
  too_many_attempts: 'Too many attempts. Wait a few minutes before trying again, or sign in again.',
  identity_conflict: 'That account is already linked to another identity at this provider, or this identity to another account.',
  bind_in_progress: 'This sign-in is being finished in another tab or request. Wait a moment, then reload this page.',
  email_in_use: 'An account with this email already exists here. Link it with its password below.',
  email_not_verified: 'The provider has not verified your email address, so no account can be created from it.',
  create_not_allowed: 'This site does not create new accounts on sign-in.',
  csrf_rejected: 'The request was refused because it did not come from this page. Reload and try again.',
  unsupported_media_type: 'The request was refused. Reload and try again.',
  invalid_request: 'The request was not understood. Check the fields and try again.',
  service_unavailable: 'A service the app depends on is unavailable right now. Try again in a moment.',
};
const WHY_NO_CREATE = {
  email_not_verified: (email, issuer) =>
    'Creating a new account is not offered: ' + issuer + ' has not verified your email address' + (email ? ' (' + email + ')' : '') +
    '. Link an account you already have, or verify your email at the provider and sign in again.',
  email_missing: (email, issuer) => 'Creating a new account is not offered: ' + issuer + ' did not share an email address. Link an account you already have.',
  create_not_allowed: () => 'This site does not create new accounts on sign-in. Link an account you already have.',
};

function describe(status, body) {
  const code = body && body.error;
  if (code && MESSAGES[code]) return MESSAGES[code];
  if (status === 0) return 'The app could not be reached. Check your connection and try again.';
  return 'Unexpected answer (HTTP ' + status + '). Try again.';
}

function dead(text) {
  sessionStorage.removeItem('bindToken');
  $('dead-text').textContent = text;
  show('dead');
}

${API_CALL_SCRIPT}

async function finish(r) {
  if (r.ok) {
    sessionStorage.removeItem('bindToken');
    return location.replace(r.data.returnTo || '/');
  }
  if (r.status === 410) return dead(describe(r.status, r.data));
  if (r.status === 401) $('confirm').elements.password.value = '';
  $('error').textContent = describe(r.status, r.data);
  $('error').hidden = false;
  $('create').disabled = $('link').disabled = false;
}

async function start() {
  if (!token) return dead('There is no sign-in in progress in this tab. Sign in to start one.');
  const r = await api('GET', '/auth/oidc/bind?token=' + encodeURIComponent(token));
  if (r.status === 410 || r.status === 400) return dead(describe(410, { error: 'bind_token_invalid' }));
  if (!r.ok) return dead(describe(r.status, r.data));
  const info = r.data;
  $('issuer').textContent = info.issuer;
  $('who').textContent = [info.name, info.email].filter(Boolean).join(', ') || 'an unnamed user';
  $('create-email').textContent = info.email || '';
  $('create-section').hidden = !info.actions.create;
  const why = WHY_NO_CREATE[info.createUnavailableReason];
  $('no-create').hidden = info.actions.create || !why;
  if (why) $('no-create').textContent = why(info.email, info.issuer);
  show('ready');
}

$('confirm').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('error').hidden = true;
  $('link').disabled = true;
  const form = new FormData(event.target);
  finish(await api('POST', '/auth/oidc/bind/confirm', { token, identifier: form.get('identifier'), password: form.get('password') }));
});
$('create').addEventListener('click', async () => {
  $('error').hidden = true;
  $('create').disabled = true;
  finish(await api('POST', '/auth/oidc/bind/create', { token }));
});
start();
`;

export function bindPage(nonce: string): string {
  return renderPage(nonce, 'Finish signing in', BODY, SCRIPT);
}
