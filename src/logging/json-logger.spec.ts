import { describe, expect, it } from 'vitest';
import { JsonLogger, redact } from './json-logger';

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

describe('JsonLogger', () => {
  it('writes one redacted JSON object per line with level and context', () => {
    const lines: string[] = [];
    const logger = new JsonLogger((l) => lines.push(l));
    logger.log({ msg: 'login.success', sessionId: 's1', idToken: JWT }, 'Login');
    logger.warn('plain message', 'Ctx');
    logger.debug('hidden below log level');
    expect(lines).toHaveLength(2);
    const first = JSON.parse(lines[0]);
    expect(first).toMatchObject({ level: 'log', context: 'Login', msg: 'login.success', sessionId: 's1', idToken: '[redacted]' });
    expect(JSON.parse(lines[1])).toMatchObject({ level: 'warn', context: 'Ctx', msg: 'plain message' });
  });
});
