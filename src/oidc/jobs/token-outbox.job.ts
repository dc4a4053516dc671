import { Inject, Injectable, Logger } from '@nestjs/common';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { SessionRepository } from '../repositories/session.repository';
import { SessionService } from '../services/session.service';
import { IntervalJob } from './interval-job';

const BATCH = 200;

/**
 * Drains the token outbox: revoked sessions whose cached tokens could not be dropped when they were
 * revoked (state store down or slow) get them dropped, and their refresh tokens revoked at the OP,
 * once the store answers again. Safe on every instance at once: dropping is idempotent and the
 * refresh token is taken with an atomic get-and-delete, so only one instance revokes it.
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
    for (;;) {
      const pending = await this.sessionRows.pendingTokenDrops(BATCH);
      if (pending.length === 0) return;
      const byReason = new Map<string, string[]>();
      for (const { sessionId, reason } of pending) byReason.set(reason, [...(byReason.get(reason) ?? []), sessionId]);
      for (const [reason, ids] of byReason) {
        if (!(await this.sessions.retire(ids, reason as Parameters<SessionService['retire']>[1]))) return; // store still down
        this.logger.log({ msg: 'outbox.drained', sessions: ids.length, reason });
      }
      if (pending.length < BATCH) return;
    }
  }
}
