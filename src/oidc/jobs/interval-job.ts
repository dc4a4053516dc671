import { Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';

/**
 * A background job that runs every `intervalMs` (the first time one interval after startup), never twice at once
 * in one process, and stops with the app. Subclasses make each run safe on every instance at once.
 */
export abstract class IntervalJob implements OnApplicationBootstrap, OnModuleDestroy {
  protected abstract readonly logger: Logger;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  protected abstract intervalMs(): number;

  /** One pass of the job; safe to call directly (tests, an admin command). */
  abstract run(): Promise<void>;

  /** Whether the app is stopping: a run that loops over batches ends after the batch in hand. */
  protected get stopping(): boolean {
    return this.stopped;
  }

  /**
   * Runs `step` (one batch of at most `size`, returning how many it did) until a batch comes back short,
   * or the app stops: a large backlog must not hold up the shutdown (the rest is left for the next run).
   * Returns how many were done.
   */
  protected async inBatches(step: () => Promise<number>, size: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await step();
      total += n;
      if (n < size || this.stopping) return total;
    }
  }

  /** Whether this job has anything to do in this deployment. */
  protected enabled(): boolean {
    return true;
  }

  onApplicationBootstrap(): void {
    if (this.enabled()) this.schedule(this.intervalMs());
  }

  /** Stops the timer and waits for a run in progress, before the connection pools close. */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.run()
        .catch((error: Error) => this.logger.warn({ msg: 'job.failed', name: error?.name, errorCode: (error as { code?: string })?.code }))
        .finally(() => {
          this.running = undefined;
          this.schedule(this.intervalMs());
        });
    }, delayMs);
    this.timer.unref();
  }
}
