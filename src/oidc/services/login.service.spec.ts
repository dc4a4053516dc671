import { describe, expect, it, vi } from 'vitest';
import { sha256 } from '../crypto/secrets';
import { OidcError } from '../errors/oidc-error';
import type { OidcAudit } from '../observability/audit.service';
import type { OidcModuleOptions } from '../oidc.options';
import type { IdentityRepository } from '../repositories/identity.repository';
import type { LoginState, LoginStateStore } from '../stores/login-state.store';
import type { BindService } from './bind.service';
import type { IdentityService } from './identity.service';
import type { IdpClientService, ProviderClient, VerifiedLogin } from './idp-client.service';
import type { LoginCompletionService } from './login-completion.service';
import { LoginService } from './login.service';
import type { AuthenticatedSession, SessionService } from './session.service';

const STATE = 'state-0123456789abcdef';
const verified = { providerId: 'partner', issuer: 'https://partner.example', subject: 'bob', refreshToken: 'rt-secret', acr: null } as unknown as VerifiedLogin;

/** A LoginService whose login transaction is a link of user u1 from session s1, at provider `partner`. */
function harness(options: { presented?: AuthenticatedSession; link?: () => Promise<unknown>; tx?: Partial<LoginState> } = {}) {
  const provider = {
    id: 'partner',
    exchangeCode: vi.fn(async () => verified),
    revokeRefreshToken: vi.fn(async () => true),
  } as unknown as ProviderClient;
  const idp = { find: vi.fn(() => provider) } as unknown as IdpClientService;
  const tx: LoginState = { provider: 'partner', codeVerifier: 'v', nonce: 'n', returnTo: '/linked', createdAt: 0, link: { userId: 'u1', sessionId: 's1' }, ...options.tx };
  const states = { consume: vi.fn(async (_state: string, hash: string) => (hash === sha256('binding') ? tx : undefined)) } as unknown as LoginStateStore;
  const identities = { findByIssuerSubject: vi.fn() } as unknown as IdentityRepository;
  const completion = { loginLinked: vi.fn(), linkAndLogin: vi.fn(), createAndLogin: vi.fn() } as unknown as LoginCompletionService;
  const bind = { begin: vi.fn() } as unknown as BindService;
  const sessions = { authenticate: vi.fn(async (token: string) => (token === 'cookie' ? options.presented : undefined)) } as unknown as SessionService;
  const identityLinks = { link: vi.fn(options.link ?? (async () => ({ identityId: 'i1', created: true }))) } as unknown as IdentityService;
  const audit = { record: vi.fn() } as unknown as OidcAudit;
  const service = new LoginService({ unlinkedIdentity: 'create' } as OidcModuleOptions, idp, states, identities, completion, bind, sessions, identityLinks, audit);
  const callback = () => service.callback('partner', new URLSearchParams({ state: STATE, code: 'c' }), `?state=${STATE}&code=c`, 'binding', 'UA', 'cookie');
  return { service, provider, completion, bind, identities, identityLinks, audit, callback };
}

const session = (sessionId: string, userId: string) => ({ session: { id: sessionId }, user: { id: userId } }) as unknown as AuthenticatedSession;

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as OidcError).code;
  }
  return 'no error';
}

describe('LoginService.callback of a link', () => {
  it.each([
    ['no session cookie', undefined],
    ['another session of the same user', session('s2', 'u1')],
    ['a session of another user', session('s1', 'u2')],
  ])('%s: 401 before the code is exchanged, nothing linked', async (_name, presented) => {
    const h = harness({ presented });
    expect(await codeOf(h.callback())).toBe('unauthenticated');
    expect(h.provider.exchangeCode).not.toHaveBeenCalled();
    expect(h.identityLinks.link).not.toHaveBeenCalled();
    expect(h.audit.record).toHaveBeenCalledWith(expect.objectContaining({ event: 'identity_linked', outcome: 'failure', error: 'unauthenticated' }), undefined);
  });

  it('the session that started it: links, creates no session, runs no unlinked-identity policy, revokes the refresh token', async () => {
    const h = harness({ presented: session('s1', 'u1') });
    expect(await h.callback()).toEqual({ kind: 'linked', returnTo: '/linked' });
    expect(h.identityLinks.link).toHaveBeenCalledWith({ userId: 'u1', sessionId: 's1' }, verified);
    expect(h.identities.findByIssuerSubject).not.toHaveBeenCalled();
    for (const fn of [h.completion.loginLinked, h.completion.linkAndLogin, h.completion.createAndLogin, h.bind.begin]) expect(fn).not.toHaveBeenCalled();
    expect(h.provider.revokeRefreshToken).toHaveBeenCalledWith('rt-secret');
    expect(JSON.stringify(vi.mocked(h.audit.record).mock.calls)).not.toContain('rt-secret');
  });

  it('a conflict is thrown as is, and the refresh token is still revoked', async () => {
    const h = harness({ presented: session('s1', 'u1'), link: async () => Promise.reject(new OidcError('identity_conflict', 'taken')) });
    expect(await codeOf(h.callback())).toBe('identity_conflict');
    expect(h.provider.revokeRefreshToken).toHaveBeenCalledWith('rt-secret');
    expect(h.completion.createAndLogin).not.toHaveBeenCalled();
  });

  it('acr_values not met: 403, nothing linked, the refresh token revoked', async () => {
    const h = harness({ presented: session('s1', 'u1'), tx: { acrValues: ['urn:loa:2'] } });
    expect(await codeOf(h.callback())).toBe('acr_not_satisfied');
    expect(h.identityLinks.link).not.toHaveBeenCalled();
    expect(h.provider.revokeRefreshToken).toHaveBeenCalled();
  });

  it('a failing revocation at the OP does not fail the link', async () => {
    const h = harness({ presented: session('s1', 'u1') });
    vi.mocked(h.provider.revokeRefreshToken).mockRejectedValue(new TypeError('fetch failed'));
    expect(await h.callback()).toMatchObject({ kind: 'linked' });
  });
});

describe('LoginService.startLink', () => {
  it('without a live session cookie: 401, nothing stored', async () => {
    const h = harness();
    expect(await codeOf(h.service.startLink(undefined, 'partner', '/'))).toBe('unauthenticated');
    expect(await codeOf(h.service.startLink('other', 'partner', '/'))).toBe('unauthenticated');
  });
});
