/**
 * Collects the keys asked for in one turn of the event loop and runs them together at its end
 * (`setImmediate`), at most `maxBatch` keys a run: concurrent requests share one round trip to a store
 * instead of paying one each. `run` answers for a batch of distinct keys with a map from key to result;
 * a key it leaves out gets `undefined`. If a run fails, every caller of that batch gets its error.
 * With `delayMs`, the keys of that many milliseconds are collected instead (for work nobody waits for);
 * `drain()` runs what is collected at once and waits for every run.
 */
export class TurnBatch<K, V> {
  private pending?: Map<K, Array<{ resolve(value: V | undefined): void; reject(error: unknown): void }>>;
  private timer?: NodeJS.Timeout;
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly run: (keys: K[]) => Promise<Map<K, V>>,
    private readonly maxBatch = 64,
    private readonly delayMs = 0,
  ) {}

  get(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      if (!this.pending) {
        this.pending = new Map();
        if (this.delayMs > 0) this.timer = setTimeout(() => this.flush(), this.delayMs).unref();
        else setImmediate(() => this.flush());
      }
      const waiting = this.pending.get(key);
      if (waiting) waiting.push({ resolve, reject });
      else this.pending.set(key, [{ resolve, reject }]);
    });
  }

  /** Runs the keys collected so far now, and waits until every run (these and earlier ones) has ended. */
  async drain(): Promise<void> {
    clearTimeout(this.timer);
    this.flush();
    await Promise.allSettled([...this.running]);
  }

  private flush(): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    this.timer = undefined;
    const keys = [...pending.keys()];
    for (let i = 0; i < keys.length; i += this.maxBatch) {
      const batch = keys.slice(i, i + this.maxBatch);
      let running: Promise<Map<K, V>>;
      try {
        running = this.run(batch);
      } catch (error) {
        running = Promise.reject(error);
      }
      const answered = running.then(
        (results) => {
          for (const key of batch) for (const waiting of pending.get(key)!) waiting.resolve(results.get(key));
        },
        (error: unknown) => {
          for (const key of batch) for (const waiting of pending.get(key)!) waiting.reject(error);
        },
      );
      if (this.delayMs > 0) {
        this.running.add(answered);
        void answered.finally(() => this.running.delete(answered));
      }
    }
  }
}
