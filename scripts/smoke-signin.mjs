// Signs in once through the development OP against a running `npm run dev`, the way a browser does,
// and checks that the session works: GET /auth/oidc/login → the OP's login form → alice /
// alice-password → (consent, if asked) → the app's callback → the bind page's token →
// POST /auth/oidc/bind/create → GET /auth/session answers 200. A second run (alice already linked)
// gets the session straight from the callback. Prints one line a step; exit 0 when signed in.
//
//   node scripts/smoke-signin.mjs            # app on http://localhost:$PORT (3000)
//   SMOKE_APP_URL=http://127.0.0.1:3000 SMOKE_WAIT_MS=60000 node scripts/smoke-signin.mjs
const app = new URL(process.env.SMOKE_APP_URL ?? `http://localhost:${process.env.PORT ?? '3000'}`).origin;
const username = process.env.SMOKE_USER ?? 'alice';
const password = process.env.SMOKE_PASSWORD ?? 'alice-password';
const waitMs = Number(process.env.SMOKE_WAIT_MS ?? 60_000);
const REQUEST_TIMEOUT_MS = 10_000;

setTimeout(() => fail(`gave up after ${waitMs + 60_000} ms`), waitMs + 60_000).unref();

/** Cookies as a browser keeps them: by host name (not port) and path. */
const jar = new Map(); // `${hostname}\t${path}\t${name}` → { hostname, path, name, value }

try {
  await waitForApp();
  let page = await request(`${app}/auth/oidc/login`);
  expect(page.status === 302 && page.location, `GET /auth/oidc/login: expected a redirect, got ${describe(page)}`);
  const op = new URL(page.location).origin;
  step(`login → ${op}`);

  // At the OP: follow redirects, fill the login form, submit any further form (consent), until the
  // OP sends the browser back to the app's callback.
  let loggedIn = false;
  for (let hops = 0; ; hops++) {
    expect(hops < 20, 'too many steps at the OP');
    if (page.location?.startsWith(`${app}/auth/oidc/callback`)) break;
    if (page.status >= 300 && page.status < 400 && page.location) {
      page = await request(page.location);
      continue;
    }
    expect(page.status === 200, `at the OP: ${describe(page)}`);
    const form = parseForm(page.text, page.url);
    if ('username' in form.fields || /name="username"/.test(page.text)) {
      expect(!loggedIn, `the OP refused ${username}: ${text(page.text)}`);
      loggedIn = true;
      step(`OP login form (${username})`);
      page = await request(form.action, { form: { ...form.fields, username, password } });
    } else {
      step('OP form (consent)');
      page = await request(form.action, { form: form.fields });
    }
  }

  const callback = await request(page.location);
  expect(callback.status === 302 && callback.location, `callback: expected a redirect, got ${describe(callback)}`);
  const next = new URL(callback.location);
  if (next.searchParams.has('token') && next.origin === app && next.pathname.endsWith('/bind')) {
    step('callback → bind page (first login of this OP user)');
    const created = await request(`${app}/auth/oidc/bind/create`, { json: { token: next.searchParams.get('token') } });
    expect(created.status === 200 || created.status === 201, `POST /auth/oidc/bind/create: ${describe(created)}`);
    step('bind/create → account created, signed in');
  } else {
    step(`callback → ${next.pathname} (identity already linked)`);
  }

  const session = await request(`${app}/auth/session`);
  expect(session.status === 200, `GET /auth/session: ${describe(session)}`);
  const body = JSON.parse(session.text);
  step(`GET /auth/session → 200, user ${body.user?.email ?? body.user?.id}`);
  console.log('smoke sign-in: ok');
} catch (error) {
  fail(error.message);
}

async function waitForApp() {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const res = await fetch(`${app}/health`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      step(`app answers (/health ${res.status})`);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`the app at ${app} did not answer within ${waitMs} ms`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** One request, no automatic redirects, cookies from and into the jar. */
async function request(url, init = {}) {
  const target = new URL(url);
  const headers = new Headers();
  const cookies = [...jar.values()].filter((c) => c.hostname === target.hostname && pathMatches(target.pathname, c.path));
  if (cookies.length) headers.set('cookie', cookies.map((c) => `${c.name}=${c.value}`).join('; '));
  let body;
  if (init.form) {
    headers.set('content-type', 'application/x-www-form-urlencoded');
    body = new URLSearchParams(init.form).toString();
  } else if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  const res = await fetch(url, { method: body ? 'POST' : 'GET', headers, body, redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  for (const line of res.headers.getSetCookie()) keepCookie(line, target);
  const location = res.headers.get('location');
  return { status: res.status, url, location: location ? new URL(location, url).href : undefined, text: await res.text() };
}

function keepCookie(line, from) {
  const [pair, ...attributes] = line.split(';').map((part) => part.trim());
  const eq = pair.indexOf('=');
  const name = pair.slice(0, eq);
  const value = pair.slice(eq + 1);
  let path = from.pathname.replace(/\/[^/]*$/, '') || '/';
  let expired = false;
  for (const attribute of attributes) {
    const [key, val = ''] = attribute.split('=');
    if (/^path$/i.test(key)) path = val || '/';
    if (/^max-age$/i.test(key) && Number(val) <= 0) expired = true;
    if (/^expires$/i.test(key) && Date.parse(val) <= Date.now()) expired = true;
  }
  const key = `${from.hostname}\t${path}\t${name}`;
  if (expired) jar.delete(key);
  else jar.set(key, { hostname: from.hostname, path, name, value });
}

function pathMatches(requestPath, cookiePath) {
  return requestPath === cookiePath || requestPath.startsWith(cookiePath.endsWith('/') ? cookiePath : `${cookiePath}/`);
}

/** The action and the inputs of the first form on a page. */
function parseForm(html, base) {
  const form = /<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no form on the OP's page: ${text(html)}`);
  const fields = {};
  for (const input of form[2].matchAll(/<input[^>]*>/gi)) {
    const name = /name="([^"]*)"/.exec(input[0])?.[1];
    if (name) fields[name] = /value="([^"]*)"/.exec(input[0])?.[1] ?? '';
  }
  return { action: new URL(form[1].replace(/&amp;/g, '&'), base).href, fields };
}

function describe(page) {
  return `${page.status}${page.location ? ` → ${page.location.split('?')[0]}` : ''} ${text(page.text)}`;
}

function text(html) {
  return html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 300);
}

function step(message) {
  console.log(`smoke: ${message}`);
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

function fail(message) {
  console.error(`smoke sign-in FAILED: ${message}`);
  process.exit(1);
}
