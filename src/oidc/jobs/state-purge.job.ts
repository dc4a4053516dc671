import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { PostgresStateStore } from '../stores/postgres/postgres-state.store';
import { StateStore } from '../stores/state-store';

const PURGE_INTERVAL_MS = 60_000;
const BATCH_SIZE = 1_000;

/**
 * Removes expired rows of the Postgres state store (Redis expires keys itself, so with Redis this
 * job does nothing). Reads never see expired rows; this only keeps the table small. Every instance
 * runs it: batches skip the rows another instance is deleting (`FOR UPDATE SKIP LOCKED`).
 */
@Injectable()
export class StatePurgeJob implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('StatePurge');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(private readonly state: StateStore) {}

  onApplicationBootstrap(): void {
    if (!(this.state instanceof PostgresStateStore)) return;
    this.timer = setInterval(() => this.tick(), PURGE_INTERVAL_MS);
    this.timer.unref();
  }

  /** Stops the timer and waits for a purge in progress, before the connection pool closes. */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** Deletes expired rows in batches until a batch comes back short; returns how many. */
  async purge(batchSize = BATCH_SIZE): Promise<number> {
    const store = this.state;
    if (!(store instanceof PostgresStateStore)) return 0;
    let total = 0;
    for (;;) {
      const purged = await store.purgeExpired(batchSize);
      total += purged;
      if (purged < batchSize || this.stopped) return total;
    }
  }

  private tick(): void {
    if (this.running) return;
    this.running = this.purge()
      .then((purged) => {
        if (purged > 0) this.logger.log({ msg: 'state_purge.done', purged });
      })
      .catch((error: Error & { code?: string }) => this.logger.warn({ msg: 'state_purge.failed', name: error?.name, errorCode: error?.code }))
      .finally(() => {
        this.running = undefined;
      });
  }
}
