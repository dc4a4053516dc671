import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Response } from 'express';
import { describe, expect, it } from 'vitest';
import { answerJsonDirectly, writeJson } from './json-response';

/** One request to a real server whose handler is `handle`; the server refuses bodies on HEAD answers. */
async function roundTrip(method: string, handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = createServer({ rejectNonStandardBodyWrites: true }, (req, res) => {
    try {
      handle(req, res);
    } catch (error) {
      res.statusCode = 599;
      res.end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { method });
    return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
  } finally {
    server.close();
  }
}

describe('writeJson', () => {
  it('writes the JSON with its exact byte length in UTF-8, and headers only to a HEAD request', async () => {
    const body = { name: 'Zoë ✓', n: 1 };
    const get = await roundTrip('GET', (_req, res) => writeJson(res, 201, body));
    expect(get.status).toBe(201);
    expect(get.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(Number(get.headers.get('content-length'))).toBe(get.body.length);
    expect(JSON.parse(get.body.toString('utf8'))).toEqual(body);
    const head = await roundTrip('HEAD', (_req, res) => writeJson(res, 200, body));
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBe(get.body.length);
    expect(head.body.length).toBe(0);
  });
});

describe('answerJsonDirectly', () => {
  const expressJson = function json() {
    return 'express';
  };
  const response = (settings: Record<string, unknown>) =>
    ({ app: { get: (name: string) => settings[name] }, json: expressJson, statusCode: 200 }) as unknown as Response;

  it('replaces res.json when the host left Express\'s JSON settings alone', () => {
    const res = response({});
    answerJsonDirectly(res);
    expect(res.json).not.toBe(expressJson);
    expect(Object.hasOwn(res, 'json')).toBe(true);
  });

  it('keeps Express\'s res.json when the host set json spaces, a replacer or json escape', () => {
    for (const settings of [{ 'json spaces': 2 }, { 'json replacer': () => undefined }, { 'json escape': true }]) {
      const res = response(settings);
      answerJsonDirectly(res);
      expect(res.json, JSON.stringify(Object.keys(settings))).toBe(expressJson);
    }
    const off = response({ 'json escape': false });
    answerJsonDirectly(off);
    expect(off.json).not.toBe(expressJson);
  });
});

describe('answerJsonDirectly on a real response', () => {
  /** A Node response dressed as Express's: `app.get`, `status()` and the original `json` (never to be called here). */
  const dressed = (res: ServerResponse) => {
    const r = res as unknown as Response;
    r.app = { get: () => undefined } as never;
    r.status = function status(this: Response, code: number) {
      this.statusCode = code;
      return this;
    } as Response['status'];
    r.json = (() => {
      throw new Error('Express json called');
    }) as unknown as Response['json'];
    answerJsonDirectly(r);
    return r;
  };

  it('answers with the status set before json() (an error after the handler: 503), an interceptor\'s content type, and no body on 204', async () => {
    const failed = await roundTrip('GET', (_req, res) => void dressed(res).status(503).json({ error: 'service_unavailable' }));
    expect(failed.status).toBe(503);
    expect(JSON.parse(failed.body.toString('utf8'))).toEqual({ error: 'service_unavailable' });
    const problem = await roundTrip('GET', (_req, res) => {
      res.setHeader('Content-Type', 'application/problem+json');
      dressed(res).json({ title: 'x' });
    });
    expect(problem.headers.get('content-type')).toBe('application/problem+json');
    const empty = await roundTrip('GET', (_req, res) => void dressed(res).status(204).json({ ignored: true }));
    expect(empty.status).toBe(204);
    expect(empty.body.length).toBe(0);
    expect(empty.headers.get('content-length')).toBeNull();
    const nothing = await roundTrip('GET', (_req, res) => void dressed(res).json({ toJSON: () => undefined }));
    expect(nothing.status).toBe(200);
    expect(nothing.body.length).toBe(0);
  });
});
