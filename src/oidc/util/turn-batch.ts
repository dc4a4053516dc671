/**
 * Collects the keys asked for in one turn of the event loop and runs them together at its end
 * (`setImmediate`), at most `maxBatch` keys a run: concurrent requests share one round trip to a store
 * instead of paying one each. `run` answers for a batch of distinct keys with a map from key to result;
 * a key it leaves out gets `undefined`. If a run fails, every caller of that batch gets its error.
 * With `delayMs`, the keys of that many milliseconds are collected instead (for work nobody waits for);
 * `drain()` runs what is collected at once and waits for every run.
 * With `maxHoldMs` (and no `delayMs`), callers can announce themselves before they ask (`expect()`): a
 * run due at the end of a turn waits while any announced caller has not asked yet (nor given up), at
 * most `maxHoldMs`. A burst of callers shares one run instead of one a turn, and a lone caller waits for
 * nothing.
 */
export class TurnBatch<K, V> {
  private pending?: Map<K, Array<{ resolve(value: V | undefined): void; reject(error: unknown): void }>>;
  private timer?: NodeJS.Timeout;
  private held = false;
  /** Announced callers that have not asked yet (see `expect`). */
  private coming = 0;
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly run: (keys: K[]) => Promise<Map<K, V>>,
    private readonly maxBatch = 64,
    private readonly delayMs = 0,
    private readonly maxHoldMs = 0,
  ) {}

  get(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      if (!this.pending) {
        this.pending = new Map();
        if (this.delayMs > 0) this.timer = setTimeout(() => this.flush(), this.delayMs).unref();
        else setImmediate(() => this.due());
      }
      const waiting = this.pending.get(key);
      if (waiting) waiting.push({ resolve, reject });
      else this.pending.set(key, [{ resolve, reject }]);
    });
  }

  /**
   * Announces a caller on its way (with `maxHoldMs`): runs wait for it until the returned release is
   * called, once it has called `get` (in the same turn, before the release) or knows it will not.
   * Releasing more than once counts once.
   */
  expect(): () => void {
    if (this.maxHoldMs <= 0) return () => undefined;
    this.coming++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.coming--;
      if (this.held && this.coming === 0) this.flush();
    };
  }

  /** The end of the turn that collected the first key: run now, unless announced callers are still on their way. */
  private due(): void {
    if (!this.pending || this.held) return;
    if (this.coming > 0) {
      this.held = true;
      this.timer = setTimeout(() => this.flush(), this.maxHoldMs).unref();
      return;
    }
    this.flush();
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
    clearTimeout(this.timer);
    this.pending = undefined;
    this.timer = undefined;
    this.held = false;
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

/**
 * A batch run that, when it fails for a reason `failsEach` does not say fails every key alike (a store
 * out of reach), runs each key on its own: one key's failure is then that key's answer only, as an
 * `Error` value. A lone key's failure is thrown.
 */
export async function oneByOneOnFailure<K, V>(keys: K[], run: (keys: K[]) => Promise<Map<K, V>>, failsEach: (error: unknown) => boolean): Promise<Map<K, V | Error>> {
  try {
    return await run(keys);
  } catch (error) {
    if (keys.length === 1 || failsEach(error)) throw error;
    const ones = await Promise.all(keys.map((key) => run([key]).then((one) => one.get(key) as V, (failed: unknown) => toError(failed))));
    return new Map(keys.map((key, i) => [key, ones[i]]));
  }
}

export function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
