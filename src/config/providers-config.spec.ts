import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Env, loadAppConfig } from './app-config';
import { problems } from './config-problems.test-helper';

const KEY = Buffer.alloc(32, 7).toString('base64');
const base: Env = { OIDC_TOKEN_ENCRYPTION_KEYS: `k1:${KEY}`, OIDC_UNLINKED_IDENTITY: 'create' };
const single: Env = {
  ...base,
  OIDC_ISSUER: 'https://sso.example.com/realms/acme',
  OIDC_CLIENT_ID: 'app',
  OIDC_CLIENT_SECRET: 'secret',
  OIDC_REDIRECT_URI: 'https://app.example.com/auth/oidc/callback',
};
const partner = {
  id: 'partner',
  name: 'Partner Keycloak',
  issuer: 'https://kc.partner.example/realms/p',
  clientId: 'app-at-partner',
  clientSecret: 's2',
  redirectUri: 'https://app.example.com/auth/oidc/callback/partner',
};
const privateJwk = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'app-key-1' };


describe('providers configuration', () => {
  it('the single-provider variables are provider "default"; OIDC_PROVIDERS adds more', () => {
    const config = loadAppConfig({ ...single, OIDC_PROVIDERS: JSON.stringify([partner]) });
    expect(config.oidc.providers.map((p) => p.id)).toEqual(['default', 'partner']);
    expect(config.oidc.providers[1]).toMatchObject({
      displayName: 'Partner Keycloak',
      issuer: partner.issuer,
      clientAuth: 'client_secret_post',
      scopes: 'openid profile email',
      par: 'auto',
      backchannelAllowMissingExp: false,
      frontchannelLogoutWithoutCookie: false,
    });
  });

  it('OIDC_PROVIDERS alone (no OIDC_ISSUER), with per-provider opt-ins and private_key_jwt', () => {
    const config = loadAppConfig({
      ...base,
      OIDC_PROVIDERS: JSON.stringify([
        { ...partner, clientSecret: undefined, clientAuth: 'private_key_jwt', privateKeyJwk: privateJwk, backchannelLogout: { allowMissingExp: true, maxAge: '5m' }, frontchannelLogout: { withoutCookie: true }, par: 'required' },
      ]),
    });
    expect(config.oidc.providers).toHaveLength(1);
    expect(config.oidc.providers[0]).toMatchObject({ id: 'partner', clientAuth: 'private_key_jwt', backchannelAllowMissingExp: true, backchannelMaxAgeMs: 300_000, frontchannelLogoutWithoutCookie: true, par: 'required' });
    expect(config.oidc.providers[0].clientSigningKey?.jwk.kid).toBe('app-key-1');
  });

  it('OIDC_PROVIDERS_FILE reads the same JSON from a file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'providers-')), 'providers.json');
    writeFileSync(file, JSON.stringify([partner]));
    expect(loadAppConfig({ ...base, OIDC_PROVIDERS_FILE: file }).oidc.providers[0].id).toBe('partner');
    expect(problems({ ...base, OIDC_PROVIDERS_FILE: '/nonexistent/providers.json' })).toEqual([expect.stringMatching(/^OIDC_PROVIDERS_FILE cannot be read \(ENOENT\)/)]);
  });

  it.each([
    ['not JSON', '[{', 'OIDC_PROVIDERS is not valid JSON'],
    ['not an array', '{}', 'OIDC_PROVIDERS must be a non-empty JSON array of providers'],
    ['empty array', '[]', 'OIDC_PROVIDERS must be a non-empty JSON array of providers'],
    ['a typo in a key', JSON.stringify([{ ...partner, clientSecrt: 'x' }]), 'OIDC_PROVIDERS[0] has unknown keys: clientSecrt'],
    ['a bad id', JSON.stringify([{ ...partner, id: 'Partner One' }]), 'OIDC_PROVIDERS[0].id must be 1-32 lower-case letters, digits or -'],
    ['a missing issuer', JSON.stringify([{ ...partner, issuer: undefined }]), 'OIDC_PROVIDERS[0].issuer is required'],
    ['an http issuer', JSON.stringify([{ ...partner, issuer: 'http://kc.partner.example' }]), 'OIDC_PROVIDERS[0].issuer must use https'],
    ['a bad clientAuth', JSON.stringify([{ ...partner, clientAuth: 'tls_client_auth' }]), 'OIDC_PROVIDERS[0].clientAuth must be one of client_secret_basic, client_secret_post, private_key_jwt'],
    ['no secret', JSON.stringify([{ ...partner, clientSecret: undefined }]), 'OIDC_PROVIDERS[0].clientSecret is required (clientAuth client_secret_post)'],
    ['private_key_jwt without a key', JSON.stringify([{ ...partner, clientAuth: 'private_key_jwt' }]), 'OIDC_PROVIDERS[0].privateKeyJwk is required when clientAuth is private_key_jwt'],
    ['a public key for private_key_jwt', JSON.stringify([{ ...partner, clientAuth: 'private_key_jwt', privateKeyJwk: { ...privateJwk, d: undefined } }]), 'OIDC_PROVIDERS[0].privateKeyJwk is not a usable private JWK'],
    ['a key without kid', JSON.stringify([{ ...partner, clientAuth: 'private_key_jwt', privateKeyJwk: { ...privateJwk, kid: undefined } }]), 'OIDC_PROVIDERS[0].privateKeyJwk must be a private JWK with a "kid"'],
    ['a redirect URI of another provider', JSON.stringify([{ ...partner, redirectUri: 'https://app.example.com/auth/oidc/callback/other' }]), 'OIDC_PROVIDERS[0].redirectUri must be the URL of this provider\'s callback route, ending in /auth/oidc/callback/partner'],
    ['a scope list without openid', JSON.stringify([{ ...partner, scopes: 'profile' }]), 'OIDC_PROVIDERS[0].scopes must include "openid"'],
    ['a bad back-channel max age', JSON.stringify([{ ...partner, backchannelLogout: { maxAge: '2h' } }]), 'OIDC_PROVIDERS[0].backchannelLogout.maxAge must be a duration of at most 1h'],
    ['a redirect URI with a query', JSON.stringify([{ ...partner, redirectUri: `${partner.redirectUri}?x=1` }]), 'OIDC_PROVIDERS[0].redirectUri must not contain a query string'],
    ['an alg that does not fit the key', JSON.stringify([{ ...partner, clientAuth: 'private_key_jwt', privateKeyJwk: { ...privateJwk, alg: 'RS256' } }]), 'OIDC_PROVIDERS[0].privateKeyJwk "alg" "RS256" does not fit this key; use one of ES256'],
    ['an HMAC alg', JSON.stringify([{ ...partner, clientAuth: 'private_key_jwt', privateKeyJwk: { ...privateJwk, alg: 'HS256' } }]), 'does not fit this key'],
    ['a secret of the wrong type', JSON.stringify([{ ...partner, clientSecret: 42 }]), 'OIDC_PROVIDERS[0].clientSecret must be string'],
  ])('%s → a precise message', (_name, value, message) => {
    expect(problems({ ...single, OIDC_PROVIDERS: value })).toEqual(expect.arrayContaining([expect.stringContaining(message)]));
  });

  it('refuses duplicate ids, duplicate issuers and redirect URIs on two origins', () => {
    expect(problems({ ...single, OIDC_PROVIDERS: JSON.stringify([{ ...partner, id: 'default', redirectUri: 'https://app.example.com/auth/oidc/callback/default' }]) })).toContain(
      'provider id "default" is used twice (OIDC_ISSUER is provider "default")',
    );
    expect(problems({ ...single, OIDC_PROVIDERS: JSON.stringify([{ ...partner, issuer: single.OIDC_ISSUER }]) })).toContain(
      `providers "default" and "partner" have the same issuer ${single.OIDC_ISSUER}; each provider needs its own issuer`,
    );
    expect(problems({ ...single, OIDC_PROVIDERS: JSON.stringify([{ ...partner, redirectUri: 'https://other.example.com/auth/oidc/callback/partner' }]) })).toEqual([
      expect.stringMatching(/^every provider's redirect URI must be on the same origin and under the same path prefix/),
    ]);
  });

  it('issuers that differ only in spelling are one OP: refused as duplicates', () => {
    for (const spelling of [`${single.OIDC_ISSUER}/`, single.OIDC_ISSUER?.replace('sso.example.com', 'SSO.example.com:443')]) {
      expect(problems({ ...single, OIDC_PROVIDERS: JSON.stringify([{ ...partner, issuer: spelling }]) })).toEqual([expect.stringMatching(/^providers "default" and "partner" have the same issuer/)]);
    }
  });

  it('single-provider variables without OIDC_ISSUER are refused instead of ignored', () => {
    expect(problems({ ...base, OIDC_PROVIDERS: JSON.stringify([partner]), OIDC_CLIENT_SECRET: 'x', OIDC_BACKCHANNEL_ALLOW_MISSING_EXP: 'true' })).toEqual([
      'OIDC_CLIENT_SECRET, OIDC_BACKCHANNEL_ALLOW_MISSING_EXP are set but OIDC_ISSUER is not: set OIDC_ISSUER for provider "default", or remove them and configure every provider in OIDC_PROVIDERS',
    ]);
  });

  it('OIDC_PROVIDERS and OIDC_PROVIDERS_FILE together are refused; neither nor OIDC_ISSUER names both ways', () => {
    expect(problems({ ...base, OIDC_PROVIDERS: '[]', OIDC_PROVIDERS_FILE: '/x' })).toContain('OIDC_PROVIDERS and OIDC_PROVIDERS_FILE are both set; use one');
    expect(problems(base)).toContain('OIDC_ISSUER is required (or OIDC_PROVIDERS / OIDC_PROVIDERS_FILE for several providers)');
  });

  it('private_key_jwt for the default provider from OIDC_CLIENT_PRIVATE_KEY', () => {
    const config = loadAppConfig({ ...single, OIDC_CLIENT_SECRET: '', OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_PRIVATE_KEY: JSON.stringify(privateJwk) });
    expect(config.oidc.providers[0]).toMatchObject({ clientAuth: 'private_key_jwt', clientSecret: undefined });
    expect(problems({ ...single, OIDC_CLIENT_AUTH: 'private_key_jwt' })).toContain(
      'OIDC_CLIENT_PRIVATE_KEY is required when OIDC_CLIENT_AUTH=private_key_jwt (a private JWK with kid, as JSON)',
    );
    expect(problems({ ...single, OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_PRIVATE_KEY: '{"kty":"EC"' })).toContain('OIDC_CLIENT_PRIVATE_KEY is not valid JSON');
  });
});
