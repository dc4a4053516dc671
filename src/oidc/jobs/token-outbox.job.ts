import { Inject, Injectable, Logger } from '@nestjs/common';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { type RevokeReason, SessionRepository } from '../repositories/session.repository';
import { SessionService } from '../services/session.service';
import { IntervalJob } from './interval-job';

const BATCH = 200;
/** Entries younger than this belong to the request that revoked them, which may still be at work. */
const MIN_GRACE_MS = 5_000;
/** After this long an entry whose refresh token the OP keeps refusing to revoke is dropped anyway. */
const ABANDON_AFTER_MS = 24 * 3_600_000;

/**
 * Drains the token outbox: revoked sessions whose cached tokens could not be dropped, or whose refresh
 * tokens could not be revoked at the OP, when they were revoked (state store or OP down or slow) get
 * that done once both answer again. Safe on every instance at once: every step is idempotent, and
 * revoking an already revoked refresh token at the OP is a no-op (RFC 7009).
 */
@Injectable()
export class TokenOutboxJob extends IntervalJob {
  protected readonly logger = new Logger('TokenOutbox');

  constructor(
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    private readonly sessionRows: SessionRepository,
    private readonly sessions: SessionService,
  ) {
    super();
  }

  protected intervalMs(): number {
    return this.options.outboxRetryIntervalMs;
  }

  async run(): Promise<void> {
    const grace = Math.max(MIN_GRACE_MS, this.options.outboxRetryIntervalMs);
    for (;;) {
      const pending = await this.sessionRows.pendingTokenDrops(BATCH, grace);
      if (pending.length === 0) return;
      const groups = new Map<string, { reason: RevokeReason; force: boolean; ids: string[] }>();
      for (const { sessionId, reason, createdAt } of pending) {
        const force = Date.now() - createdAt.getTime() > ABANDON_AFTER_MS;
        const key = `${reason}:${force}`;
        const group = groups.get(key) ?? { reason, force, ids: [] };
        group.ids.push(sessionId);
        groups.set(key, group);
      }
      let done = 0;
      for (const { reason, force, ids } of groups.values()) done += await this.sessions.finishRetirement(ids, reason, force);
      if (done > 0) this.logger.log({ msg: 'outbox.drained', sessions: done, left: pending.length - done });
      // Stop when nothing moves (the store or the OP is still down) or the outbox is empty, and when the
      // app stops: a large backlog (after an outage of the state store) must not hold up its shutdown,
      // whatever is left stays in the outbox for the next start or another instance.
      if (done === 0 || pending.length < BATCH || this.stopping) return;
    }
  }
}
