import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Response } from 'express';

/**
 * Writes a JSON answer with Node's own response API: no ETag (the module's answers are `no-store`, so a
 * validator is never used), no charset or content-type negotiation. A HEAD request gets the headers
 * only. Headers set before (the host's, the module's `Cache-Control`) are kept.
 */
export function writeJson(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  if (status === 204 || status === 304) {
    // No body (as Express's send): a status an interceptor chose.
    res.removeHeader('Content-Type');
    res.removeHeader('Content-Length');
    res.end();
    return;
  }
  // `undefined` when the body's toJSON says so: an empty answer, as Express's res.json.
  const json = JSON.stringify(body) ?? '';
  // A type a host interceptor set (application/problem+json, …) stays, as with Express.
  if (!res.hasHeader('Content-Type')) res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end((res as ServerResponse & { req?: IncomingMessage }).req?.method === 'HEAD' ? undefined : json);
}

/** Express settings that change what `res.json` writes: where a host set one, Express writes the answer. */
const EXPRESS_JSON_SETTINGS = ['json replacer', 'json spaces', 'json escape'] as const;

type ExpressApp = { get(setting: string): unknown };

/** Whether the host left Express's JSON settings alone (read on every answer: a host may set them late, or inherit them from a parent app). */
function usesPlainJson(app: ExpressApp | undefined): boolean {
  if (!app || typeof app.get !== 'function') return true;
  return EXPRESS_JSON_SETTINGS.every((setting) => {
    const value = app.get(setting);
    return value === undefined || value === false;
  });
}

function directJson(this: Response, body: unknown): Response {
  writeJson(this, this.statusCode, body);
  return this;
}

/**
 * Makes Express's `res.json` of this response `writeJson`: Nest still answers with what the handler
 * returns, after the host's interceptors (which may wrap the body or set headers), but the write skips
 * Express's ETag, charset and content-type work, which cost more CPU than the JSON itself on the
 * session lookup. A host that configured how Express writes JSON (`json replacer`, `json spaces`,
 * `json escape`) keeps Express's `res.json`.
 */
export function answerJsonDirectly(res: Response): void {
  if (usesPlainJson(res.app as ExpressApp | undefined)) res.json = directJson;
}
