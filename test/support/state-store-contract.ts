import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { StateStore } from '../../src/oidc/stores/state-store';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The shared contract. `stores()` gives the store under test plus more connections to the same
 * backend (other "instances"); concurrent calls are spread over all of them.
 */
export function stateStoreContract(stores: () => StateStore[]) {
  const run = randomUUID();
  const used: string[] = [];
  const key = (name: string) => {
    const k = `oidc:contract:${run}:${name}`;
    used.push(k);
    return k;
  };
  const store = () => stores()[0];
  const spread = <T>(n: number, call: (s: StateStore, i: number) => Promise<T>) =>
    Promise.all(Array.from({ length: n }, (_, i) => call(stores()[i % stores().length], i)));

  afterAll(async () => {
    await store().delete(used);
  });

  it('get, set (overwrites value and TTL) and mget in key order', async () => {
    const [a, b, missing] = [key('a'), key('b'), key('missing')];
    expect(await store().get(a)).toBeUndefined();
    await store().set(a, 'one', 60_000);
    await store().set(b, 'two', 60_000);
    expect(await store().get(a)).toBe('one');
    expect(await store().mget([b, missing, a])).toEqual(['two', undefined, 'one']);
    expect(await store().mget([])).toEqual([]);
    await store().set(a, 'short', 150);
    await store().set(a, 'replaced', 60_000);
    await sleep(300);
    expect(await store().get(a)).toBe('replaced');
  });

  it('keys expire: an expired key is invisible to every operation', async () => {
    const k = key('ttl');
    await store().set(k, 'v', 150);
    expect(await store().get(k)).toBe('v');
    await sleep(350);
    expect(await store().get(k)).toBeUndefined();
    expect(await store().mget([k])).toEqual([undefined]);
    expect(await store().getAndDelete(k)).toBeUndefined();
    expect(await store().compareAndDelete(k, 'v')).toBe(false);
    expect(await store().delete([k])).toBe(0);
  });

  it('refuses a key without a positive TTL', async () => {
    const k = key('no-ttl');
    await expect(store().set(k, 'v', 0)).rejects.toThrow(RangeError);
    await expect(store().setIfAbsent(k, 'v', -5)).rejects.toThrow(RangeError);
    await expect(store().increment(k, Number.NaN)).rejects.toThrow(RangeError);
    expect(await store().get(k)).toBeUndefined();
  });

  it('setIfAbsent writes only an absent or expired key', async () => {
    const k = key('nx');
    expect(await store().setIfAbsent(k, 'first', 200)).toBe(true);
    expect(await store().setIfAbsent(k, 'second', 60_000)).toBe(false);
    expect(await store().get(k)).toBe('first');
    await sleep(400);
    expect(await store().setIfAbsent(k, 'third', 60_000)).toBe(true);
    expect(await store().get(k)).toBe('third');
  });

  it('getAndDelete returns the value once', async () => {
    const k = key('take');
    await store().set(k, 'v', 60_000);
    expect(await store().getAndDelete(k)).toBe('v');
    expect(await store().getAndDelete(k)).toBeUndefined();
    expect(await store().get(k)).toBeUndefined();
  });

  it('delete returns how many of the keys existed', async () => {
    const [a, b, missing] = [key('del-a'), key('del-b'), key('del-missing')];
    await store().set(a, '1', 60_000);
    await store().set(b, '2', 60_000);
    expect(await store().delete([a, b, missing])).toBe(2);
    expect(await store().mget([a, b])).toEqual([undefined, undefined]);
    expect(await store().delete([a])).toBe(0);
    expect(await store().delete([])).toBe(0);
  });

  it('increment counts in a fixed window that starts at the first hit and is not extended by later ones', async () => {
    const k = key('window');
    expect(await store().increment(k, 700)).toBe(1);
    await sleep(350);
    expect(await store().increment(k, 700)).toBe(2);
    // 950 ms after the first hit: the window (700 ms) is over; had the second hit extended it, it would still run.
    await sleep(600);
    expect(await store().increment(k, 700)).toBe(1);
    expect(await store().increment(k, 700)).toBe(2);
  });

  it('compareAndDelete deletes only for the owner', async () => {
    const k = key('lock');
    await store().set(k, 'owner-a', 60_000);
    expect(await store().compareAndDelete(k, 'owner-b')).toBe(false);
    expect(await store().get(k)).toBe('owner-a');
    expect(await store().compareAndDelete(k, 'owner-a')).toBe(true);
    expect(await store().get(k)).toBeUndefined();
    expect(await store().compareAndDelete(k, 'owner-a')).toBe(false);
  });

  it('setMany writes keys of one hash tag together, each with its own TTL', async () => {
    const tagged = (name: string) => {
      const k = `oidc:contract:{${run}:many}:${name}`;
      used.push(k);
      return k;
    };
    const [a, b] = [tagged('a'), tagged('b')];
    await store().setMany([
      { key: a, value: 'one', ttlMs: 60_000 },
      { key: b, value: 'two', ttlMs: 150 },
    ]);
    expect(await store().mget([a, b])).toEqual(['one', 'two']);
    await sleep(350);
    expect(await store().mget([a, b])).toEqual(['one', undefined]);
    await store().setMany([]);
    await expect(store().setMany([{ key: a, value: 'x', ttlMs: 0 }])).rejects.toThrow(RangeError);
  });

  it('mget and delete take keys of many hash tags at once (in key order, counted once each)', async () => {
    const keys = Array.from({ length: 20 }, (_, i) => key(`spread-${i}`));
    await Promise.all(keys.map((k, i) => (i % 2 === 0 ? store().set(k, `v${i}`, 60_000) : Promise.resolve())));
    expect(await store().mget(keys)).toEqual(keys.map((_, i) => (i % 2 === 0 ? `v${i}` : undefined)));
    expect(await store().delete(keys)).toBe(10);
    expect(await store().mget(keys)).toEqual(keys.map(() => undefined));
  });

  it('ping answers', async () => {
    await expect(store().ping()).resolves.toBeUndefined();
  });

  describe('atomic under concurrency', () => {
    it('50 concurrent setIfAbsent: exactly one wins, and its value is stored', async () => {
      const k = key('race-nx');
      const results = await spread(50, (s, i) => s.setIfAbsent(k, `v${i}`, 60_000));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store().get(k)).toBe(`v${results.indexOf(true)}`);
    });

    it('50 concurrent setIfAbsent on an expired key: exactly one takes it over', async () => {
      const k = key('race-nx-expired');
      await store().set(k, 'old', 100);
      await sleep(250);
      const results = await spread(50, (s, i) => s.setIfAbsent(k, `v${i}`, 60_000));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('50 concurrent getAndDelete: exactly one gets the value', async () => {
      const k = key('race-take');
      await store().set(k, 'the-value', 60_000);
      const results = await spread(50, (s) => s.getAndDelete(k));
      expect(results.filter((v) => v !== undefined)).toEqual(['the-value']);
    });

    it('100 concurrent increments: counts 1 to 100, none lost', async () => {
      const k = key('race-incr');
      const results = await spread(100, (s) => s.increment(k, 60_000));
      expect([...results].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      expect(await store().get(k)).toBe('100');
    });

    it('50 concurrent compareAndDelete by the owner: exactly one deletes; a wrong owner never does', async () => {
      const k = key('race-cad');
      await store().set(k, 'owner', 60_000);
      expect((await spread(20, (s) => s.compareAndDelete(k, 'intruder'))).some(Boolean)).toBe(false);
      const results = await spread(50, (s) => s.compareAndDelete(k, 'owner'));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('50 concurrent delete of one key: it is counted once', async () => {
      const k = key('race-del');
      await store().set(k, 'v', 60_000);
      const counts = await spread(50, (s) => s.delete([k]));
      expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
    });
  });
}
