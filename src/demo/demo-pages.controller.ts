import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';

const STYLE = 'body{font-family:system-ui;max-width:40rem;margin:2rem auto;line-height:1.5}pre{background:#f4f4f4;padding:1rem;overflow:auto}';

/**
 * Two small pages for the demo app (not part of OidcModule): a home page that shows the session and
 * logs out, and the bind page that OIDC_BIND_PAGE_URL points to. Both only call the module's API.
 */
@ApiExcludeController()
@Controller()
export class DemoPagesController {
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  home(): string {
    return `<!doctype html><html><head><title>OIDC RP demo</title><style>${STYLE}</style></head><body>
<h1>OIDC Relying Party demo</h1>
<p><a href="/auth/oidc/login?return_to=/">Sign in with the OpenID Provider</a> · <a href="/docs">API docs</a></p>
<pre id="session">…</pre>
<button id="logout">Log out</button> <label><input type="checkbox" id="everywhere"> everywhere</label>
<script>
const show = (v) => (document.getElementById('session').textContent = JSON.stringify(v, null, 2));
fetch('/auth/session').then((r) => r.json()).then(show);
document.getElementById('logout').onclick = async () => {
  const r = await fetch('/auth/oidc/logout', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ everywhere: document.getElementById('everywhere').checked }) });
  const body = await r.json();
  if (body.endSessionUrl) location.href = body.endSessionUrl; else show(body);
};
</script></body></html>`;
  }

  @Get('bind')
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-store')
  @Header('Referrer-Policy', 'no-referrer')
  bind(): string {
    return `<!doctype html><html><head><title>Link your account</title><style>${STYLE}</style></head><body>
<h1>Link your account</h1>
<p id="who">…</p>
<form id="confirm"><h2>I already have an account</h2>
<label>Email <input name="identifier" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button>Link</button></form>
<p><button id="create" hidden>Create a new account instead</button></p>
<pre id="out"></pre>
<script>
// The token leaves the address bar (and the history) but stays for a reload of this tab.
const fromUrl = new URLSearchParams(location.search).get('token');
if (fromUrl) sessionStorage.setItem('bindToken', fromUrl);
const token = fromUrl || sessionStorage.getItem('bindToken');
history.replaceState(null, '', '/bind');
const out = (v) => (document.getElementById('out').textContent = JSON.stringify(v, null, 2));
const done = async (r) => { const b = await r.json(); if (r.ok) location.href = b.returnTo; else out(b); };
fetch('/auth/oidc/bind?token=' + encodeURIComponent(token)).then(async (r) => {
  const info = await r.json();
  if (!r.ok) return out(info);
  document.getElementById('who').textContent = (info.name || '') + ' ' + (info.email || '') + ' at ' + info.issuer;
  document.getElementById('create').hidden = !info.actions.create;
});
document.getElementById('confirm').onsubmit = async (e) => {
  e.preventDefault();
  const f = new FormData(e.target);
  done(await fetch('/auth/oidc/bind/confirm', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, identifier: f.get('identifier'), password: f.get('password') }) }));
};
document.getElementById('create').onclick = async () =>
  done(await fetch('/auth/oidc/bind/create', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) }));
</script></body></html>`;
  }

  @Get('logged-out')
  @Header('Content-Type', 'text/html; charset=utf-8')
  loggedOut(): string {
    return `<!doctype html><html><head><title>Signed out</title><style>${STYLE}</style></head><body><h1>You are signed out</h1><p><a href="/">Home</a></p></body></html>`;
  }
}
