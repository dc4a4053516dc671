import { describe, expect, it } from 'vitest';
import { OidcError } from '../errors/oidc-error';
import { authorizationParams, linkParams, parseLoginParams } from './login-params';

describe('linkParams', () => {
  it('always asks for a fresh authentication (max_age=0), whatever max_age the caller gave', () => {
    expect(linkParams({})).toEqual({ maxAge: 0 });
    expect(linkParams(parseLoginParams({ max_age: '3600', acr_values: 'urn:a', login_hint: 'alice' }))).toEqual({ maxAge: 0, acrValues: ['urn:a'], loginHint: 'alice' });
    expect(authorizationParams(linkParams({ prompt: 'login' }))).toEqual({ prompt: 'login', max_age: '0' });
  });

  it('refuses prompt=none, which would link whatever OP session the browser has', () => {
    expect(() => linkParams(parseLoginParams({ prompt: 'none' }))).toThrow(OidcError);
    try {
      linkParams({ prompt: 'none' });
    } catch (error) {
      expect((error as OidcError).code).toBe('invalid_login_parameter');
    }
  });
});
