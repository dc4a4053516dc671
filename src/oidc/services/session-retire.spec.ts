import { describe, expect, it, vi } from 'vitest';
import type { OidcAudit } from '../observability/audit.service';
import type { OidcModuleOptions } from '../oidc.options';
import type { SessionRepository } from '../repositories/session.repository';
import type { TokenVaultStore, VaultRead } from '../stores/token-vault.store';
import type { IdpClientService } from './idp-client.service';
import { SessionService } from './session.service';

/**
 * A vault whose commands fail for any batch that touches `broken` (as on a Redis Cluster when the shard
 * holding that session's keys fails over), and a refresh token cached for `withRefresh`.
 */
function harness(broken: string, withRefresh: string, failure = () => Object.assign(new Error('CLUSTERDOWN The cluster is down'), { name: 'ReplyError' })) {
  const touches = (owners: string[]) => owners.some((owner) => owner.includes(broken));
  const down = failure;
  const vault = {
    deleteKinds: vi.fn(async (owners: string[]) => {
      if (touches(owners)) throw down();
    }),
    peekMany: vi.fn(async (owners: string[]): Promise<VaultRead[]> => {
      if (touches(owners)) throw down();
      return owners.map((owner) => (owner.includes(withRefresh) ? { stored: true, token: 'refresh-token' } : { stored: false, token: undefined }));
    }),
    deleteAll: vi.fn(async () => undefined),
  } as unknown as TokenVaultStore;
  const rows = { tokensDropped: vi.fn(async () => undefined), issuerOf: vi.fn(async () => 'https://op.example.com') } as unknown as SessionRepository;
  const revokeRefreshToken = vi.fn(async () => true);
  const idp = { forIssuer: () => ({ revokeRefreshToken }) } as unknown as IdpClientService;
  const audit = { record: vi.fn() } as unknown as OidcAudit;
  const service = new SessionService({} as OidcModuleOptions, rows, vault, idp, audit);
  return { service, vault, rows, revokeRefreshToken };
}

describe('SessionService.retire: the shared vault sweep', () => {
  it('retirements of one turn share one sweep (one DEL, one MGET)', async () => {
    const { service, vault, rows } = harness('none', 'none');
    await Promise.all([service.retire(['s1'], 'backchannel_logout'), service.retire(['s2', 's3'], 'backchannel_logout')]);
    expect(vault.deleteKinds).toHaveBeenCalledTimes(1);
    expect(vault.peekMany).toHaveBeenCalledTimes(1);
    expect(vi.mocked(vault.peekMany).mock.calls[0][0]).toHaveLength(3);
    expect(vi.mocked(rows.tokensDropped).mock.calls.flatMap(([ids]) => ids).sort()).toEqual(['s1', 's2', 's3']);
  });

  it('a sweep that fails is retried session by session: only the session it concerns stays in the outbox', async () => {
    const { service, rows, vault, revokeRefreshToken } = harness('s2', 's3');
    await Promise.all([service.retire(['s1'], 'backchannel_logout'), service.retire(['s2'], 'backchannel_logout'), service.retire(['s3'], 'backchannel_logout')]);
    // s1: nothing more in the vault, its outbox entry goes; s3: its refresh token revoked at the OP, then
    // deleted, then its outbox entry; s2: left to the outbox job.
    expect(vi.mocked(rows.tokensDropped).mock.calls.flatMap(([ids]) => ids).sort()).toEqual(['s1', 's3']);
    expect(revokeRefreshToken).toHaveBeenCalledTimes(1);
    expect(revokeRefreshToken).toHaveBeenCalledWith('refresh-token');
    expect(vault.deleteAll).toHaveBeenCalledWith(['session:s3']);
  });

  it('a sweep that fails for its only session leaves that session to the outbox and never throws', async () => {
    const { service, rows } = harness('s9', 'none');
    await expect(service.retire(['s9'], 'backchannel_logout')).resolves.toBeUndefined();
    expect(rows.tokensDropped).not.toHaveBeenCalled();
  });

  it('a sweep that times out (the store down or slow) is not retried session by session: all of it waits in the outbox', async () => {
    const { service, rows, vault } = harness('s2', 'none', () => new Error('Command timed out'));
    await Promise.all([service.retire(['s1'], 'backchannel_logout'), service.retire(['s2'], 'backchannel_logout')]);
    expect(vault.peekMany).toHaveBeenCalledTimes(1);
    expect(rows.tokensDropped).not.toHaveBeenCalled();
  });
});
