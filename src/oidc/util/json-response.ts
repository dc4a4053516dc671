import type { ServerResponse } from 'node:http';

/**
 * Writes a JSON answer with Node's own response API: no ETag (the module's answers are `no-store`, so a
 * validator is never used), no charset or content-type negotiation. Express's `res.json` spends more
 * CPU on those than on the JSON itself; the module's hot routes answer this way. Headers set before
 * (the host's, the module's `Cache-Control`) are kept.
 */
export function writeJson(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}
