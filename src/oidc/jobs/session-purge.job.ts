import { Inject, Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { OIDC_MODULE_OPTIONS } from '../oidc.module-definition';
import type { OidcModuleOptions } from '../oidc.options';
import { SessionRepository } from '../repositories/session.repository';
import { IntervalJob } from './interval-job';

/** pg advisory-lock key of this job ("oidcpurg"), so one instance purges at a time. */
const LOCK_KEY = '7956880218216506727';
const BATCH = 1000;

/**
 * Ends and forgets old sessions, in batches, on one instance at a time (a Postgres advisory lock):
 * live sessions past their expiry are marked `expired` (they leave the live partial indexes), rows
 * expired or revoked longer ago than `SESSION_RETENTION` are deleted, and so are logout-token ids
 * past their replay window.
 */
@Injectable()
export class SessionPurgeJob extends IntervalJob {
  protected readonly logger = new Logger('SessionPurge');

  constructor(
    @Inject(OIDC_MODULE_OPTIONS) private readonly options: OidcModuleOptions,
    private readonly dataSource: DataSource,
    private readonly sessions: SessionRepository,
  ) {
    super();
  }

  protected intervalMs(): number {
    return this.options.purgeIntervalMs;
  }

  async run(): Promise<void> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [LOCK_KEY])) as Array<{ locked: boolean }>;
      if (!locked) return;
      try {
        const cutoff = new Date(Date.now() - this.options.sessionRetentionMs);
        const expired = await this.inBatches(() => this.sessions.markExpired(BATCH, runner.manager), BATCH);
        const deleted = await this.inBatches(() => this.sessions.deleteEndedBefore(cutoff, BATCH, runner.manager), BATCH);
        const jtis = await this.inBatches(() => this.sessions.deleteExpiredLogoutJtis(BATCH, runner.manager), BATCH);
        const ended = await this.inBatches(() => this.sessions.deleteExpiredEndedOpSessions(BATCH, runner.manager), BATCH);
        if (expired || deleted || jtis || ended) this.logger.log({ msg: 'purge.done', expired, deleted, logoutJtis: jtis, endedOpSessions: ended });
      } finally {
        await runner.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]);
      }
    } finally {
      await runner.release();
    }
  }
}
