import { describe, expect, it, vi } from 'vitest';
import type { DataSource } from 'typeorm';
import type { OidcError } from '../errors/oidc-error';
import type { OidcAudit } from '../observability/audit.service';
import type { OidcModuleOptions } from '../oidc.options';
import type { AfterLoginHook } from '../oidc.tokens';
import type { IdentityRepository } from '../repositories/identity.repository';
import type { SessionRepository } from '../repositories/session.repository';
import type { UserRepository } from '../repositories/user.repository';
import type { TokenVaultStore } from '../stores/token-vault.store';
import { LoginCompletionService, type SigningIn } from './login-completion.service';
import type { IssuedSession, SessionService } from './session.service';

const login = { issuer: 'https://op.example', subject: 'alice', sid: 'sid1', issuedAt: 1 } as SigningIn;

function harness(still: 'ok' | 'ended' | 'unlinked') {
  const issued = { token: 't', session: { id: 's1', expiresAt: new Date(Date.now() + 60_000) } } as IssuedSession;
  const sessions = { create: vi.fn(async () => issued), cacheTokens: vi.fn(), retire: vi.fn() } as unknown as SessionService;
  const rows = { loginStillValid: vi.fn(async () => still), revokeById: vi.fn(async () => ['s1']) } as unknown as SessionRepository;
  const identities = { recordLogin: vi.fn() } as unknown as IdentityRepository;
  const afterLogin: AfterLoginHook = { afterLogin: vi.fn() };
  const audit = { record: vi.fn() } as unknown as OidcAudit;
  const service = new LoginCompletionService(
    {} as OidcModuleOptions,
    afterLogin,
    {} as DataSource,
    {} as UserRepository,
    identities,
    sessions,
    {} as TokenVaultStore,
    rows,
    audit,
  );
  const run = () => service.loginLinked('u1', 'i1', login, { from: 'exchange', idToken: null, refreshToken: null, accessToken: null, accessTokenExpiresAt: null });
  return { run, rows, sessions, afterLogin };
}

describe('LoginCompletionService: what landed while the login was in flight', () => {
  it('nothing: the session is handed out', async () => {
    const h = harness('ok');
    await expect(h.run()).resolves.toMatchObject({ token: 't' });
    expect(h.rows.revokeById).not.toHaveBeenCalled();
  });

  it('an unlink of its identity: the new session is revoked (identity_unlinked) and the login fails', async () => {
    const h = harness('unlinked');
    const error = (await h.run().catch((e: unknown) => e)) as OidcError;
    expect([error.code, error.getStatus()]).toEqual(['identity_not_linked', 403]);
    expect(h.rows.revokeById).toHaveBeenCalledWith('s1', 'identity_unlinked');
    expect(h.sessions.retire).toHaveBeenCalledWith(['s1'], 'identity_unlinked', undefined);
    expect(h.afterLogin.afterLogin).not.toHaveBeenCalled();
  });

  it('a back-channel logout: revoked (backchannel_logout), op_session_ended', async () => {
    const h = harness('ended');
    expect(((await h.run().catch((e: unknown) => e)) as OidcError).code).toBe('op_session_ended');
    expect(h.rows.revokeById).toHaveBeenCalledWith('s1', 'backchannel_logout');
  });
});
