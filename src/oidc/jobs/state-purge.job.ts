import { Injectable, Logger } from '@nestjs/common';
import { PostgresStateStore } from '../stores/postgres/postgres-state.store';
import { StateStore } from '../stores/state-store';
import { IntervalJob } from './interval-job';

const PURGE_INTERVAL_MS = 60_000;
const BATCH_SIZE = 1_000;

/**
 * Removes expired rows of the Postgres state store (Redis expires keys itself, so with Redis this
 * job does nothing). Reads never see expired rows; this only keeps the table small. Every instance
 * runs it: batches skip the rows another instance is deleting (`FOR UPDATE SKIP LOCKED`).
 */
@Injectable()
export class StatePurgeJob extends IntervalJob {
  protected readonly logger = new Logger('StatePurge');

  constructor(private readonly state: StateStore) {
    super();
  }

  protected override enabled(): boolean {
    return this.state instanceof PostgresStateStore;
  }

  protected intervalMs(): number {
    return PURGE_INTERVAL_MS;
  }

  async run(): Promise<void> {
    const purged = await this.purge();
    if (purged > 0) this.logger.log({ msg: 'state_purge.done', purged });
  }

  /** Deletes expired rows in batches until a batch comes back short; returns how many. */
  async purge(batchSize = BATCH_SIZE): Promise<number> {
    const store = this.state;
    if (!(store instanceof PostgresStateStore)) return 0;
    return this.inBatches(() => store.purgeExpired(batchSize), batchSize);
  }
}
