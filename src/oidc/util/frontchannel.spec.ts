import { describe, expect, it } from 'vitest';
import { frontchannelCsp, parseFrontchannelParams } from './frontchannel';

const ISSUER = 'https://op.example.com/realms/corp';

describe('parseFrontchannelParams', () => {
  it('accepts the issuer and a sid, ignoring other parameters', () => {
    expect(parseFrontchannelParams({ iss: ISSUER, sid: 'Xy_-9.~a', other: 'x' }, ISSUER)).toEqual({ ok: true, sid: 'Xy_-9.~a' });
    expect(parseFrontchannelParams({ iss: ISSUER, sid: 'a'.repeat(255) }, ISSUER)).toEqual({ ok: true, sid: 'a'.repeat(255) });
  });

  it.each([
    [{ sid: 'abc' }, 'iss_missing'],
    [{ iss: '', sid: 'abc' }, 'iss_missing'],
    [{ iss: 'https://op.example.com', sid: 'abc' }, 'iss_mismatch'],
    [{ iss: `${ISSUER}/`, sid: 'abc' }, 'iss_mismatch'],
    [{ iss: ISSUER.toUpperCase(), sid: 'abc' }, 'iss_mismatch'],
    [{ iss: { a: ISSUER }, sid: 'abc' }, 'iss_mismatch'],
    [{ iss: ISSUER }, 'sid_missing'],
    [{ iss: ISSUER, sid: '' }, 'sid_missing'],
    [{ iss: ISSUER, sid: 'a'.repeat(256) }, 'sid_invalid'],
    [{ iss: ISSUER, sid: 'a b' }, 'sid_invalid'],
    [{ iss: ISSUER, sid: 'a\nb' }, 'sid_invalid'],
    [{ iss: ISSUER, sid: 'é' }, 'sid_invalid'],
    [{ iss: ISSUER, sid: { x: '1' } }, 'sid_invalid'],
    [{ iss: [ISSUER, ISSUER], sid: 'abc' }, 'parameter_repeated'],
    [{ iss: ISSUER, sid: ['abc', 'def'] }, 'parameter_repeated'],
  ])('refuses %j (%s)', (query, reason) => {
    const parsed = parseFrontchannelParams(query as Record<string, unknown>, ISSUER);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok === false && parsed.reason).toBe(reason);
  });
});

describe('frontchannelCsp', () => {
  it("lets only the issuer's origin frame the page, and loads nothing", () => {
    expect(frontchannelCsp(ISSUER)).toBe("default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors https://op.example.com");
    expect(frontchannelCsp('http://127.0.0.1:4000')).toContain('frame-ancestors http://127.0.0.1:4000');
  });
});
