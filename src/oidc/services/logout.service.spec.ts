import type { OidcAudit } from '../observability/audit.service';
import { Configuration } from 'openid-client';
import { describe, expect, it, vi } from 'vitest';
import type { OidcModuleOptions, OidcProviderOptions } from '../oidc.options';
import type { SessionRepository } from '../repositories/session.repository';
import type { TokenVaultStore } from '../stores/token-vault.store';
import { IdpClientService } from './idp-client.service';
import { LogoutService } from './logout.service';
import type { AuthenticatedSession, SessionService } from './session.service';

const current = { session: { id: 's1', userId: 'u1', issuer: 'https://op.example.com' }, user: { id: 'u1' } } as unknown as AuthenticatedSession;

/** A real IdpClientService (one provider) whose discovery answers the given end_session_endpoint. */
function idpWith(endSessionEndpoint: string | undefined, options: Partial<OidcProviderOptions & { allowInsecureHttp: boolean }>): IdpClientService {
  const { allowInsecureHttp = false, ...provider } = options;
  const idp = new IdpClientService({
    allowInsecureHttp,
    httpTimeoutMs: 5000,
    providers: [
      {
        id: 'default',
        issuer: 'https://op.example.com',
        clientId: 'app',
        clientSecret: 'secret',
        postLogoutRedirectUri: 'https://app.example.com/bye',
        ...provider,
      },
    ],
  } as OidcModuleOptions);
  const discovered = new Configuration({ issuer: 'https://op.example.com', end_session_endpoint: endSessionEndpoint }, 'app', 'secret');
  vi.spyOn(idp.get('default'), 'config').mockResolvedValue(discovered);
  return idp;
}

function harness(idp: IdpClientService) {
  const vault = { take: vi.fn(async (_owner: string, kind: string) => (kind === 'id_token' ? 'eyJ.id.token' : undefined)), deleteAll: vi.fn() } as unknown as TokenVaultStore;
  const rows = { revokeOwn: vi.fn(async () => ['s1']), revokeAllOfUser: vi.fn(async () => ['s1', 's2']) } as unknown as SessionRepository;
  const sessions = { retire: vi.fn() } as unknown as SessionService;
  const audit = { record: vi.fn() } as unknown as OidcAudit;
  return { service: new LogoutService(idp, sessions, rows, vault, audit), vault, rows };
}

describe('LogoutService end-session checks', () => {
  it.each([
    ['an http endpoint without the insecure flag', 'http://op.example.com/logout', {}],
    ['no endpoint at all', undefined, {}],
    ['a javascript: endpoint', 'javascript:alert(1)', {}],
    ['no post-logout redirect configured', 'https://op.example.com/logout', { postLogoutRedirectUri: undefined }],
  ])('%s: no URL and the id_token is not consumed', async (_name, endpoint, options) => {
    const { service, vault, rows } = harness(idpWith(endpoint, options));
    const result = await service.logout(current, false);
    expect(result.endSessionUrl).toBeUndefined();
    expect(rows.revokeOwn).toHaveBeenCalledWith('u1', 's1', 'logout');
    expect(vault.take).not.toHaveBeenCalledWith('session:s1', 'id_token');
  });

  it('an https endpoint: consumes the id_token once and builds the URL with openid-client', async () => {
    const { service, vault } = harness(idpWith('https://op.example.com/logout', {}));
    const { endSessionUrl } = await service.logout(current, false);
    expect(vault.take).toHaveBeenCalledWith('session:s1', 'id_token');
    const url = new URL(endSessionUrl as string);
    expect(url.origin + url.pathname).toBe('https://op.example.com/logout');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      id_token_hint: 'eyJ.id.token',
      post_logout_redirect_uri: 'https://app.example.com/bye',
      client_id: 'app',
    });
  });

  it('the configured OIDC_END_SESSION_ENDPOINT wins over discovery', async () => {
    const { service } = harness(idpWith(undefined, { endSessionEndpoint: 'https://op.example.com/custom-logout' }));
    const { endSessionUrl } = await service.logout(current, true);
    expect(endSessionUrl).toMatch(/^https:\/\/op\.example\.com\/custom-logout\?/);
  });

  it('an http OIDC_END_SESSION_ENDPOINT with the insecure flag builds the URL (never a 500)', async () => {
    const { service } = harness(idpWith(undefined, { allowInsecureHttp: true, endSessionEndpoint: 'http://localhost:4000/session/end', postLogoutRedirectUri: 'http://localhost:3000/' }));
    const { endSessionUrl } = await service.logout(current, false);
    expect(endSessionUrl).toMatch(/^http:\/\/localhost:4000\/session\/end\?id_token_hint=/);
  });

  it('a failure while building the URL answers without a URL instead of failing the logout', async () => {
    const idp = idpWith('https://op.example.com/logout', {});
    vi.spyOn(idp.get('default'), 'endSessionUrl').mockRejectedValue(new TypeError('boom'));
    const { service, rows } = harness(idp);
    await expect(service.logout(current, false)).resolves.toMatchObject({ endSessionUrl: undefined, revokedSessions: 1 });
    expect(rows.revokeOwn).toHaveBeenCalled();
  });
});
