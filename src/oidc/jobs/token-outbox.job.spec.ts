import { describe, expect, it } from 'vitest';
import type { OidcModuleOptions } from '../oidc.options';
import type { SessionRepository } from '../repositories/session.repository';
import { SessionService } from '../services/session.service';
import type { IdpClientService } from '../services/idp-client.service';
import type { TokenVaultStore } from '../stores/token-vault.store';
import type { OidcAudit } from '../observability/audit.service';
import { TokenOutboxJob } from './token-outbox.job';

/** An outbox of `n` old entries whose deletions land after `deleteMs` (as the repository's batched deletes). */
function outbox(n: number, deleteMs: number, failDeletes = false) {
  const entries = new Set(Array.from({ length: n }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`));
  const handled: string[] = [];
  const rows = {
    entries,
    pendingTokenDrops: async (limit: number) =>
      [...entries].slice(0, limit).map((sessionId) => ({ sessionId, reason: 'logout', createdAt: new Date(Date.now() - 60_000) })),
    tokensDropped: (ids: string[]) =>
      new Promise<void>((resolve, reject) =>
        setTimeout(() => {
          if (failDeletes) return reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
          for (const id of ids) entries.delete(id);
          resolve();
        }, deleteMs),
      ),
  };
  const vault = {
    get: async (owner: string) => {
      handled.push(owner);
      return undefined;
    },
    deleteAll: async () => undefined,
  };
  const sessions = new SessionService({} as OidcModuleOptions, rows as unknown as SessionRepository, vault as unknown as TokenVaultStore, {} as IdpClientService, { record() {} } as unknown as OidcAudit);
  const job = new TokenOutboxJob({ outboxRetryIntervalMs: 1_000 } as OidcModuleOptions, rows as unknown as SessionRepository, sessions);
  return { rows, handled, job };
}

describe('TokenOutboxJob', () => {
  it('waits for the outbox deletes of a pass before reading the next: each entry is handled once', async () => {
    const { rows, handled, job } = outbox(450, 25);
    await job.run();
    expect(rows.entries.size).toBe(0);
    expect(handled).toHaveLength(450);
    expect(new Set(handled).size).toBe(450);
  });

  it('stops when the deletes fail (Postgres away) instead of reading the same entries again and again', async () => {
    const { rows, handled, job } = outbox(450, 1, true);
    await job.run();
    expect(rows.entries.size).toBe(450);
    expect(handled).toHaveLength(200);
  });

  it('ends a run after the batch in hand when the app stops (a large backlog does not hold up the shutdown)', async () => {
    const { rows, handled, job } = outbox(5_000, 1);
    const run = job.run();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await job.onModuleDestroy();
    await run;
    expect(handled.length).toBeGreaterThan(0);
    expect(handled.length).toBeLessThanOrEqual(400);
    expect(rows.entries.size).toBe(5_000 - handled.length);
  });
});
