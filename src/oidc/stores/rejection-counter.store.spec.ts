import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StateStore } from './state-store';
import { RejectionCounterStore } from './rejection-counter.store';

/** A state store that keeps counters in a map and counts its reads (what the cache must save). */
function countingStore() {
  const counters = new Map<string, number>();
  const store = {
    reads: 0,
    failing: false,
    /** When set, reads wait for it (a read in flight). */
    gate: undefined as Promise<void> | undefined,
    async get(key: string) {
      store.reads++;
      if (store.failing) throw new Error('Connection is closed.');
      const value = counters.has(key) ? String(counters.get(key)) : undefined;
      await store.gate;
      return value;
    },
    async increment(key: string) {
      counters.set(key, (counters.get(key) ?? 0) + 1);
      return counters.get(key) as number;
    },
  };
  return store;
}

const limit = { limit: 2, windowMs: 60_000 };

describe('RejectionCounterStore', () => {
  let store: ReturnType<typeof countingStore>;
  let rejections: RejectionCounterStore;
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-11-22T10:00:10Z') });
    store = countingStore();
    rejections = new RejectionCounterStore(store as unknown as StateStore);
  });
  afterEach(() => vi.useRealTimers());

  it('a client under the limit is read once a second, not once a request', async () => {
    for (let i = 0; i < 5; i++) expect(await rejections.retryAfter('192.0.2.1', limit)).toBe(0);
    expect(store.reads).toBe(1);
    vi.advanceTimersByTime(1001);
    expect(await rejections.retryAfter('192.0.2.1', limit)).toBe(0);
    expect(store.reads).toBe(2);
    // Another client has its own entry.
    expect(await rejections.retryAfter('192.0.2.2', limit)).toBe(0);
    expect(store.reads).toBe(3);
  });

  it('a rejection counted here drops the entry: the client is read again, and refused once over the limit', async () => {
    expect(await rejections.retryAfter('192.0.2.1', limit)).toBe(0);
    await rejections.count('192.0.2.1', limit);
    expect(await rejections.retryAfter('192.0.2.1', limit)).toBe(0);
    expect(store.reads).toBe(2);
    await rejections.count('192.0.2.1', limit);
    // Over the limit: refused until the window ends (50 s left), and a refusal is never cached.
    expect(await rejections.retryAfter('192.0.2.1', limit)).toBe(50);
    expect(await rejections.retryAfter('192.0.2.1', limit)).toBe(50);
    expect(store.reads).toBe(4);
  });

  it('rejections counted by another instance are seen within a second', async () => {
    const other = new RejectionCounterStore(store as unknown as StateStore);
    expect(await rejections.retryAfter('192.0.2.1', limit)).toBe(0);
    await other.count('192.0.2.1', limit);
    await other.count('192.0.2.1', limit);
    expect(await rejections.retryAfter('192.0.2.1', limit)).toBe(0);
    vi.advanceTimersByTime(1001);
    expect(await rejections.retryAfter('192.0.2.1', limit)).toBe(49);
  });

  it('a client past half its budget is read on every request', async () => {
    const ten = { limit: 10, windowMs: 60_000 };
    const other = new RejectionCounterStore(store as unknown as StateStore);
    for (let i = 0; i < 6; i++) await other.count('192.0.2.1', ten);
    expect(await rejections.retryAfter('192.0.2.1', ten)).toBe(0);
    expect(await rejections.retryAfter('192.0.2.1', ten)).toBe(0);
    expect(store.reads).toBe(2);
  });

  it('a read during which a rejection was counted here is not remembered (requests in flight together)', async () => {
    let open!: () => void;
    store.gate = new Promise((resolve) => (open = resolve));
    const inFlight = rejections.retryAfter('192.0.2.1', limit);
    await rejections.count('192.0.2.9', limit);
    open();
    expect(await inFlight).toBe(0);
    store.gate = undefined;
    expect(await rejections.retryAfter('192.0.2.1', limit)).toBe(0);
    expect(store.reads).toBe(2);
  });

  it('fails open when the store cannot be read, and does not remember that answer', async () => {
    store.failing = true;
    expect(await rejections.retryAfter('192.0.2.1', limit)).toBe(0);
    store.failing = false;
    expect(await rejections.retryAfter('192.0.2.1', limit)).toBe(0);
    expect(store.reads).toBe(2);
  });

  it('a limit of 0 is off: nothing is read or counted', async () => {
    const off = { limit: 0, windowMs: 60_000 };
    expect(await rejections.retryAfter('192.0.2.1', off)).toBe(0);
    await rejections.count('192.0.2.1', off);
    expect(store.reads).toBe(0);
  });
});
