import { randomBytes } from 'node:crypto';
import type { Response } from 'express';

/** HTML-escapes text for element content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
:root{color-scheme:light;--fg:#1d2330;--muted:#5d6677;--line:#dfe3ea;--bg:#f6f7f9;--accent:#2455c3;--danger:#b42318;--ok:#067647}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#fff;border-bottom:1px solid var(--line)}
header div,main{max-width:46rem;margin:0 auto;padding:1rem 1.25rem}
header div{display:flex;justify-content:space-between;align-items:center}
header a{color:inherit;text-decoration:none;font-weight:600}
header nav a{font-weight:400;color:var(--muted);margin-left:1rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
h2{font-size:1.1rem;margin:0 0 .75rem}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:1.25rem;margin:0 0 1rem}
.muted{color:var(--muted)}
.button,button{display:inline-block;font:inherit;border-radius:8px;border:1px solid var(--accent);background:var(--accent);color:#fff;padding:.45rem 1rem;cursor:pointer;text-decoration:none}
.button.secondary,button.secondary{background:#fff;color:var(--accent)}
button.danger{background:#fff;border-color:var(--danger);color:var(--danger)}
button:disabled{opacity:.6;cursor:wait}
.actions{display:flex;gap:.5rem;flex-wrap:wrap;margin-top:1rem}
table{width:100%;border-collapse:collapse;font-size:.95rem}
td button{white-space:nowrap}
th,td{text-align:left;padding:.5rem .4rem;border-bottom:1px solid var(--line);vertical-align:middle}
th{color:var(--muted);font-weight:500}
.badge{display:inline-block;white-space:nowrap;background:#e8f0fe;color:var(--accent);border-radius:999px;padding:0 .6rem;font-size:.85rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:1rem 0 0}
dt{color:var(--muted)}
dd{margin:0;word-break:break-all}
label{display:block;margin:.5rem 0}
input{display:block;width:100%;font:inherit;padding:.45rem .6rem;border:1px solid var(--line);border-radius:8px;margin-top:.2rem}
.alert{border-radius:8px;padding:.75rem 1rem;margin:0 0 1rem;background:#fef3f2;color:var(--danger);border:1px solid #fecdca}
.note{border-radius:8px;padding:.75rem 1rem;margin:0 0 1rem;background:#f2f4f7;border:1px solid var(--line)}
code{background:#f2f4f7;padding:0 .3rem;border-radius:4px}
`;

/**
 * The headers of every demo page: no caching (Back after sign-out must not show a signed-in page from
 * the cache), no referrer (the bind page's URL may briefly carry its token), and a CSP that only runs
 * this response's own inline script and style (nonce) and only talks to this origin.
 */
export function setPageHeaders(res: Response, nonce: string): void {
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader(
    'Content-Security-Policy',
    [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      `style-src 'nonce-${nonce}'`,
      "connect-src 'self'",
      "img-src 'self'",
      "form-action 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ].join('; '),
  );
}

export function newNonce(): string {
  return randomBytes(16).toString('base64');
}

/**
 * The pages' one way to call the API: same-origin, never cached, JSON in and out (the module refuses
 * any other body on state-changing routes); `{ok, status, data}`, status 0 when the app is unreachable.
 */
export const API_CALL_SCRIPT = `async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  try {
    const r = await fetch(path, init);
    const data = r.status === 204 ? null : await r.json().catch(() => null);
    return { ok: r.ok, status: r.status, data };
  } catch {
    return { ok: false, status: 0, data: null };
  }
}`;

/** A whole page: `body` is trusted markup written in this folder, `script` plain JS run with the nonce. */
export function renderPage(nonce: string, title: string, body: string, script = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)} · OIDC RP demo</title><style nonce="${nonce}">${STYLE}</style></head>
<body><header><div><a href="/">OIDC Relying Party demo</a><nav><a href="/docs">API docs</a></nav></div></header>
<main>
${body}
</main>${script ? `\n<script nonce="${nonce}">\n'use strict';\n${script}\n</script>` : ''}
</body></html>`;
}
