import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Response } from 'express';

/**
 * Writes a JSON answer with Node's own response API: no ETag (the module's answers are `no-store`, so a
 * validator is never used), no charset or content-type negotiation. A HEAD request gets the headers
 * only. Headers set before (the host's, the module's `Cache-Control`) are kept.
 */
export function writeJson(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end((res as ServerResponse & { req?: IncomingMessage }).req?.method === 'HEAD' ? undefined : json);
}

/** Express settings that change what `res.json` writes: where a host set one, Express writes the answer. */
const EXPRESS_JSON_SETTINGS = ['json replacer', 'json spaces', 'json escape'] as const;

type ExpressApp = { get(setting: string): unknown };
/** Per Express app: whether its JSON settings are Express's defaults (read once; hosts set them at startup). */
const plainJson = new WeakMap<object, boolean>();

function usesPlainJson(app: ExpressApp | undefined): boolean {
  if (!app || typeof app.get !== 'function') return true;
  let plain = plainJson.get(app);
  if (plain === undefined) {
    plain = EXPRESS_JSON_SETTINGS.every((setting) => app.get(setting) === undefined || app.get(setting) === false);
    plainJson.set(app, plain);
  }
  return plain;
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
