import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { Logger, PinoLogger } from 'nestjs-pino';
import { bufferedStdout, createRootLogger, redact } from './logger';

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl';

describe('redact', () => {
  it.each([
    ['idToken'],
    ['id_token'],
    ['refreshToken'],
    ['logout_token'],
    ['code'],
    ['password'],
    ['cookie'],
    ['authorization'],
    ['endSessionUrl'],
    ['id_token_hint'],
    ['codeVerifier'],
  ])('hides the field %s', (key) => {
    expect(redact({ [key]: 'very-secret' })).toEqual({ [key]: '[redacted]' });
  });

  it('hides JWTs, codes in URLs and bearer tokens inside strings', () => {
    const out = redact({
      msg: `got ${JWT} from op`,
      url: 'https://op/logout?id_token_hint=abc.def.ghi&post_logout_redirect_uri=x',
      callback: '/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj',
      header: 'Bearer abcdef123',
    }) as Record<string, string>;
    const text = JSON.stringify(out);
    expect(text).not.toContain(JWT);
    expect(text).not.toContain('abc.def.ghi');
    expect(text).not.toContain('SplxlOBeZQQYbYS6WxSbIA');
    expect(text).not.toContain('af0ifjsldkj');
    expect(text).not.toContain('abcdef123');
    expect(text).toContain('post_logout_redirect_uri=x');
  });

  it('walks nested objects and errors', () => {
    const err = new Error(`bad ${JWT}`);
    expect(JSON.stringify(redact({ nested: { refresh_token: 'r' }, err }))).not.toMatch(/eyJ|"r"/);
  });
});

describe('the app logger (nestjs-pino on the root pino logger)', () => {
  // nestjs-pino keeps the first root logger it is given for the whole process: one for this file.
  const lines: string[] = [];
  const root = createRootLogger({ write: (line: string) => void lines.push(line) });
  const logger = new Logger(new PinoLogger({ pinoHttp: { logger: root } }), {});
  beforeEach(() => {
    lines.length = 0;
    root.level = 'info';
  });

  it('writes one redacted JSON object per line with Nest\'s level name, the context and the fields', () => {
    logger.log({ msg: 'login.success', sessionId: 's1', idToken: JWT }, 'Login');
    logger.warn('plain message', 'Ctx');
    logger.debug('hidden below log level');
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    const first = JSON.parse(lines[0]);
    expect(first).toMatchObject({ level: 'log', context: 'Login', msg: 'login.success', sessionId: 's1', idToken: '[redacted]' });
    expect(Date.parse(first.time)).toBeGreaterThan(0);
    expect(first).not.toHaveProperty('pid');
    expect(first).not.toHaveProperty('hostname');
    expect(JSON.parse(lines[1])).toMatchObject({ level: 'warn', context: 'Ctx', msg: 'plain message' });
  });

  it('scrubs strings, nested fields, errors and header paths', () => {
    root.level = 'debug';
    logger.error(`failed with ${JWT} at /cb?code=SplxlOBeZQQYbYS6WxSbIA`, 'Ctx');
    logger.log({ msg: 'x', nested: { deeper: { refreshToken: 'r-secret' } }, err: new Error(`bad ${JWT}`) }, 'Ctx');
    logger.debug({ msg: 'y', req: { headers: { authorization: 'Bearer abc', cookie: 'sid=s-secret' } } }, 'Ctx');
    const text = lines.join('');
    expect(lines).toHaveLength(3);
    for (const secret of [JWT, 'SplxlOBeZQQYbYS6WxSbIA', 'r-secret', 'abc', 's-secret']) expect(text).not.toContain(secret);
    expect(JSON.parse(lines[2]).req.headers).toEqual({ authorization: '[redacted]', cookie: '[redacted]' });
  });
});

describe('redact, copying', () => {
  it('returns an object with nothing to scrub as it is, and never changes the caller\'s object', () => {
    const clean = { msg: 'audit', event: 'logout', sessionId: 's1', nested: { a: 1 } };
    expect(redact(clean)).toBe(clean);
    const dirty = { msg: 'x', sessionId: 's1', idToken: 'secret', after: 'kept' };
    const out = redact(dirty) as Record<string, unknown>;
    expect(out).toEqual({ msg: 'x', sessionId: 's1', idToken: '[redacted]', after: 'kept' });
    expect(Object.keys(out)).toEqual(['msg', 'sessionId', 'idToken', 'after']);
    expect(dirty.idToken).toBe('secret');
  });
});

describe('the buffered stdout destination', () => {
  it('writes every line whole and in order, multi-byte characters included, across several 8 KiB writes', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'oidc-log-')), 'out.log');
    const fd = openSync(file, 'w');
    const destination = bufferedStdout(fd);
    const root = createRootLogger(destination);
    for (let i = 0; i < 400; i++) root.info({ msg: 'line', i, name: `Zoë ${'é'.repeat(i % 7)} 🙂` });
    // Ended (pending lines written, the descriptor closed by the destination itself): its periodic flush stops too.
    await new Promise<void>((resolve) => (destination as unknown as { end(cb: () => void): void }).end(resolve));
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { i: number; name: string });
    expect(lines.map((l) => l.i)).toEqual([...Array(400).keys()]);
    expect(lines[13].name).toBe(`Zoë ${'é'.repeat(6)} 🙂`);
  });
});
