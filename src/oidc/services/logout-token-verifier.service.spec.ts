import { generateKeyPairSync, KeyObject, randomUUID, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcError } from '../errors/oidc-error';
import type { OidcModuleOptions } from '../oidc.options';
import type { ProviderClient } from './idp-client.service';
import { BACKCHANNEL_LOGOUT_EVENT, LogoutTokenVerifier } from './logout-token-verifier.service';

const ISSUER = 'https://op.example';
const CLIENT = 'app';
type Alg = 'RS256' | 'PS256' | 'ES256' | 'ES384' | 'EdDSA' | 'Ed25519';
const ALGS: Alg[] = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA', 'Ed25519'];

/** The OP's key set, served over HTTP as discovery would point at it; one key per algorithm. */
let server: Server;
let jwksUri: string;
const keys = new Map<Alg, Awaited<ReturnType<typeof generateKeyPair>>>();
const published: JWK[] = [];
const rotation = { keys: new Map<'old' | 'new', CryptoKeyLike>(), published: [] as JWK[] };
type CryptoKeyLike = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
const crowd: CryptoKeyLike[] = [];
/** A 1024-bit RSA key in the OP's set (factorable): jose refuses such keys, so must we. */
const weakKey = generateKeyPairSync('rsa', { modulusLength: 1024 });

beforeAll(async () => {
  for (const alg of ALGS) {
    const pair = await generateKeyPair(alg, { extractable: true });
    keys.set(alg, pair);
    published.push({ ...(await exportJWK(pair.publicKey)), kid: alg, alg });
  }
  published.push({ ...weakKey.publicKey.export({ format: 'jwk' }), kid: 'weak', alg: 'RS256' } as JWK);
  // A rotation: two RS256 keys without kid (the retiring one and the new one).
  for (const name of ['old', 'new'] as const) {
    const pair = await generateKeyPair('RS256', { extractable: true });
    rotation.keys.set(name, pair.privateKey);
    rotation.published.push({ ...(await exportJWK(pair.publicKey)), alg: 'RS256' });
  }
  // Five keys without kid: more than a token without kid may cost.
  const many: JWK[] = [];
  for (let i = 0; i < 5; i++) {
    const pair = await generateKeyPair('ES256', { extractable: true });
    crowd.push(pair.privateKey);
    many.push({ ...(await exportJWK(pair.publicKey)), alg: 'ES256' });
  }
  server = createServer((req, res) =>
    res
      .setHeader('content-type', 'application/json')
      .end(JSON.stringify({ keys: req.url === '/rotation' ? rotation.published : req.url === '/many' ? many : published })),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function provider(overrides: Partial<ProviderClient['options']> = {}, path = '/jwks'): ProviderClient {
  const options = { issuer: ISSUER, clientId: CLIENT, backchannelAllowMissingExp: false, backchannelMaxAgeMs: 120_000, ...overrides };
  return { id: 'default', options, jwksUri: async () => jwksUri.replace(/\/jwks$/, path) } as unknown as ProviderClient;
}

const verifier = () => new LogoutTokenVerifier({ clockToleranceSec: 5, httpTimeoutMs: 2000 } as OidcModuleOptions);

function logoutToken(alg: Alg, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: ISSUER, aud: CLIENT, iat: now, exp: now + 120, jti: randomUUID(), sid: 'sid-1', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, ...claims })
    .setProtectedHeader({ alg, kid: alg, typ: 'logout+jwt', ...header })
    .sign(keys.get(alg)!.privateKey);
}

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OidcError);
  return { code: (error as OidcError).code, message: (error as OidcError).message };
}

describe('LogoutTokenVerifier', () => {
  it.each(ALGS)('accepts a valid %s logout token and returns its claims', async (alg) => {
    const claims = await verifier().verify(await logoutToken(alg, { sub: 'user-1' }), provider());
    expect(claims).toMatchObject({ iss: ISSUER, sid: 'sid-1', sub: 'user-1' });
  });

  it('accepts an aud array that holds the client id, refuses one that does not', async () => {
    const v = verifier();
    await expect(v.verify(await logoutToken('RS256', { aud: ['other', CLIENT] }), provider())).resolves.toMatchObject({ sid: 'sid-1' });
    expect(await refusal(v.verify(await logoutToken('RS256', { aud: ['other'] }), provider()))).toMatchObject({ code: 'invalid_logout_token', message: expect.stringMatching(/aud/) });
  });

  it('names the part of a token that does not decode: header, payload (not a JSON object), signature', async () => {
    const [h, p, s] = (await logoutToken('RS256')).split('.');
    const b64 = (text: string) => Buffer.from(text).toString('base64url');
    const cases: Array<[string, string]> = [
      [`${b64('{"alg":')}.${p}.${s}`, 'logout_token header is malformed'],
      [`${b64('["RS256"]')}.${p}.${s}`, 'logout_token header is malformed'],
      [`${h}=.${p}.${s}`, 'logout_token header is malformed'],
      [`${h}.${b64('{"iss":')}.${s}`, 'logout_token payload is malformed'],
      [`${h}.${b64('[1,2]')}.${s}`, 'logout_token payload is malformed'],
      [`${h}.${b64('null')}.${s}`, 'logout_token payload is malformed'],
      [`${h}.${p} .${s}`, 'logout_token payload is malformed'],
      [`${h}.${p}.${s}+/`, 'logout_token signature is invalid'],
    ];
    for (const [token, message] of cases) expect(await refusal(verifier().verify(token, provider()))).toEqual({ code: 'invalid_logout_token', message });
  });

  it('refuses a header or payload that is not UTF-8, validly signed (it would read as U+FFFD and match a sid that holds it)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const signed = (header: Buffer, payload: Buffer) => {
      const input = `${header.toString('base64url')}.${payload.toString('base64url')}`;
      return `${input}.${sign('sha256', Buffer.from(input), KeyObject.from(keys.get('RS256')!.privateKey)).toString('base64url')}`;
    };
    const claims = JSON.stringify({ iss: ISSUER, aud: CLIENT, iat: now, exp: now + 60, jti: randomUUID(), events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, sid: 'a#' });
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'RS256', x: 'b#' }));
    const invalidByte = (json: Buffer) => Buffer.from(json.toString('latin1').replace(/#/, '\xff'), 'latin1');
    const v = verifier();
    await expect(v.verify(signed(header, Buffer.from(claims)), provider())).resolves.toMatchObject({ sid: 'a#' });
    expect(await refusal(v.verify(signed(header, invalidByte(Buffer.from(claims))), provider()))).toEqual({ code: 'invalid_logout_token', message: 'logout_token payload is malformed' });
    expect(await refusal(v.verify(signed(invalidByte(header), Buffer.from(claims)), provider()))).toEqual({ code: 'invalid_logout_token', message: 'logout_token header is malformed' });
  });

  it('refuses a NUL character in the value sessions are matched by (sid, or sub without sid), and only there', async () => {
    const v = verifier();
    expect(await refusal(v.verify(await logoutToken('RS256', { sid: 'a\u0000' }), provider()))).toMatchObject({ message: 'logout_token sid must not contain a NUL character' });
    expect(await refusal(v.verify(await logoutToken('RS256', { sid: undefined, sub: 'u\u0000' }), provider()))).toMatchObject({ message: 'logout_token sub must not contain a NUL character' });
    // With a sid the sub is not matched against sessions: the logout by sid goes through.
    await expect(v.verify(await logoutToken('RS256', { sid: 'sid-2', sub: 'u\u0000' }), provider())).resolves.toMatchObject({ sid: 'sid-2' });
  });

  it('refuses a token whose payload was changed after signing', async () => {
    const [h, , s] = (await logoutToken('ES256')).split('.');
    const forged = Buffer.from(JSON.stringify({ iss: ISSUER, aud: CLIENT, iat: 1, exp: 9e9, jti: 'x', sid: 'victim', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } })).toString('base64url');
    expect(await refusal(verifier().verify(`${h}.${forged}.${s}`, provider()))).toEqual({ code: 'invalid_logout_token', message: 'logout_token signature is invalid' });
  });

  it('refuses HS256 signed with the public key as the secret, and alg none', async () => {
    const pem = await exportSPKI(keys.get('RS256')!.publicKey);
    const now = Math.floor(Date.now() / 1000);
    const body = { iss: ISSUER, aud: CLIENT, iat: now, exp: now + 60, jti: 'j', sid: 's', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } };
    const hs = await new SignJWT(body).setProtectedHeader({ alg: 'HS256', kid: 'RS256' }).sign(new TextEncoder().encode(pem));
    expect(await refusal(verifier().verify(hs, provider()))).toMatchObject({ message: 'logout_token algorithm is not allowed' });
    const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(body)).toString('base64url')}.`;
    expect(await refusal(verifier().verify(none, provider()))).toMatchObject({ message: 'logout_token algorithm is not allowed' });
  });

  it('refuses a token signed with the right kid but another algorithm than the header names', async () => {
    // Signed RS256 with the RS256 key, header relabelled PS256: the PS256 key (kid PS256) is used and fails.
    const [, p, s] = (await logoutToken('RS256')).split('.');
    const header = Buffer.from(JSON.stringify({ alg: 'PS256', kid: 'PS256', typ: 'logout+jwt' })).toString('base64url');
    expect(await refusal(verifier().verify(`${header}.${p}.${s}`, provider()))).toMatchObject({ message: 'logout_token signature is invalid' });
  });

  it('refuses an expired token, one without exp, and one not valid yet', async () => {
    const now = Math.floor(Date.now() / 1000);
    const v = verifier();
    expect(await refusal(v.verify(await logoutToken('RS256', { iat: now - 600, exp: now - 60 }), provider()))).toMatchObject({ message: 'logout_token has expired' });
    expect(await refusal(v.verify(await logoutToken('RS256', { exp: undefined }), provider()))).toMatchObject({ message: expect.stringMatching(/exp/) });
    expect(await refusal(v.verify(await logoutToken('RS256', { nbf: now + 600 }), provider()))).toMatchObject({ message: 'logout_token is not valid yet (nbf)' });
    // Within the clock tolerance (5 s) an expired token still passes.
    await expect(v.verify(await logoutToken('RS256', { iat: now - 60, exp: now - 2 }), provider())).resolves.toMatchObject({ sid: 'sid-1' });
  });

  it('refuses another audience and a crit header it does not understand', async () => {
    const v = verifier();
    expect(await refusal(v.verify(await logoutToken('EdDSA', { aud: 'someone-else' }), provider()))).toMatchObject({ message: expect.stringMatching(/aud/) });
    // Signed by hand: jose will not sign a crit it does not understand either.
    const [, payload] = (await logoutToken('RS256')).split('.');
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'RS256', crit: ['x-unknown'], 'x-unknown': 1 })).toString('base64url');
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), KeyObject.from(keys.get('RS256')!.privateKey)).toString('base64url');
    expect(await refusal(v.verify(`${header}.${payload}.${signature}`, provider()))).toMatchObject({ message: 'logout_token has a crit header that is not understood' });
  });

  it('binds a key to its provider: the same key set under another client id refuses the token', async () => {
    const v = verifier();
    const token = await logoutToken('ES256');
    await expect(v.verify(token, provider())).resolves.toMatchObject({ sid: 'sid-1' });
    expect(await refusal(v.verify(token, provider({ clientId: 'another-app' })))).toMatchObject({ message: expect.stringMatching(/aud/) });
  });

  it('refuses a token signed with an RSA key under 2048 bits, and an ES256 signature of the wrong length', async () => {
    const now = Math.floor(Date.now() / 1000);
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'weak', typ: 'logout+jwt' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ iss: ISSUER, aud: CLIENT, iat: now, exp: now + 60, jti: 'w', sid: 's', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } })).toString('base64url');
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), weakKey.privateKey).toString('base64url');
    expect(await refusal(verifier().verify(`${header}.${payload}.${signature}`, provider()))).toEqual({
      code: 'invalid_logout_token',
      message: 'logout_token is signed with an RSA key of 1024 bits (at least 2048 required)',
    });
    const [h, p] = (await logoutToken('ES256')).split('.');
    const short = Buffer.alloc(10).toString('base64url');
    expect(await refusal(verifier().verify(`${h}.${p}.${short}`, provider()))).toMatchObject({ code: 'invalid_logout_token', message: 'logout_token signature is invalid' });
  });

  it('without a kid, during a rotation (two keys fit), accepts the key whose signature holds and refuses any other', async () => {
    const v = verifier();
    const now = Math.floor(Date.now() / 1000);
    const signed = (key: CryptoKeyLike, claims: Record<string, unknown> = {}) =>
      new SignJWT({ iss: ISSUER, aud: CLIENT, iat: now, exp: now + 60, jti: randomUUID(), sid: 'rot', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, ...claims })
        .setProtectedHeader({ alg: 'RS256', typ: 'logout+jwt' })
        .sign(key);
    await expect(v.verify(await signed(rotation.keys.get('new')!), provider({}, '/rotation'))).resolves.toMatchObject({ sid: 'rot' });
    await expect(v.verify(await signed(rotation.keys.get('old')!), provider({}, '/rotation'))).resolves.toMatchObject({ sid: 'rot' });
    // The right key with a bad claim answers for the claim; a key outside the set: the signature.
    expect(await refusal(v.verify(await signed(rotation.keys.get('old')!, { aud: 'other' }), provider({}, '/rotation')))).toMatchObject({ message: expect.stringMatching(/aud/) });
    expect(await refusal(v.verify(await signed(keys.get('RS256')!.privateKey), provider({}, '/rotation')))).toEqual({
      code: 'invalid_logout_token',
      message: 'logout_token signature is invalid',
    });
  });

  it('tries at most four keys for a token without kid', async () => {
    const now = Math.floor(Date.now() / 1000);
    const signed = (key: CryptoKeyLike) =>
      new SignJWT({ iss: ISSUER, aud: CLIENT, iat: now, exp: now + 60, jti: randomUUID(), sid: 'many', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } })
        .setProtectedHeader({ alg: 'ES256', typ: 'logout+jwt' })
        .sign(key);
    const v = verifier();
    await expect(v.verify(await signed(crowd[3]), provider({}, '/many'))).resolves.toMatchObject({ sid: 'many' });
    expect(await refusal(v.verify(await signed(crowd[4]), provider({}, '/many')))).toMatchObject({ message: 'logout_token signature is invalid' });
  });

  it('answers 503 (retry) for a kid the key set does not have', async () => {
    const token = await logoutToken('RS256', {}, { kid: 'rotated-in' });
    expect(await refusal(verifier().verify(token, provider()))).toMatchObject({ code: 'service_unavailable' });
  });
});
