import { describe, expect, it } from 'vitest';
import { TurnBatch } from './turn-batch';

describe('TurnBatch', () => {
  it('runs the keys of one turn together, once each, and answers every caller', async () => {
    const runs: string[][] = [];
    const batch = new TurnBatch<string, number>(async (keys) => {
      runs.push(keys);
      return new Map(keys.filter((k) => k !== 'missing').map((k) => [k, k.length]));
    });
    const answers = await Promise.all([batch.get('a'), batch.get('bb'), batch.get('a'), batch.get('missing')]);
    expect(answers).toEqual([1, 2, 1, undefined]);
    expect(runs).toEqual([['a', 'bb', 'missing']]);
    expect(await batch.get('ccc')).toBe(3);
    expect(runs).toHaveLength(2);
  });

  it('splits a large turn into runs of at most maxBatch keys', async () => {
    const sizes: number[] = [];
    const batch = new TurnBatch<number, number>(async (keys) => {
      sizes.push(keys.length);
      return new Map(keys.map((k) => [k, k]));
    }, 3);
    expect(await Promise.all([1, 2, 3, 4, 5, 6, 7].map((k) => batch.get(k)))).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(sizes).toEqual([3, 3, 1]);
  });

  it('a failed run fails each of its callers with its error, and the next turn runs again', async () => {
    let fail = true;
    const batch = new TurnBatch<string, string>(async (keys) => {
      if (fail) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return new Map(keys.map((k) => [k, k]));
    });
    const results = await Promise.allSettled([batch.get('a'), batch.get('b')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason.code).toBe('ECONNREFUSED');
    fail = false;
    expect(await batch.get('a')).toBe('a');
  });
});

describe('TurnBatch with a delay', () => {
  it('collects the keys of the delay, across turns, into one run; drain() runs them at once and waits', async () => {
    const runs: string[][] = [];
    const batch = new TurnBatch<string, true>(async (keys) => {
      runs.push(keys);
      return new Map(keys.map((k) => [k, true as const]));
    }, 64, 60_000);
    const first = batch.get('a');
    await new Promise((resolve) => setImmediate(resolve));
    const second = batch.get('b');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(runs).toEqual([]);
    await batch.drain();
    expect(runs).toEqual([['a', 'b']]);
    expect(await Promise.all([first, second])).toEqual([true, true]);
    await batch.drain();
    expect(runs).toHaveLength(1);
  });

  it('runs by itself once the delay is over', async () => {
    const runs: string[][] = [];
    const batch = new TurnBatch<string, true>(async (keys) => {
      runs.push(keys);
      return new Map(keys.map((k) => [k, true as const]));
    }, 64, 10);
    expect(await batch.get('a')).toBe(true);
    expect(runs).toEqual([['a']]);
  });
});

describe('TurnBatch with announced callers (maxHoldMs)', () => {
  const recording = (runs: string[][]) =>
    new TurnBatch<string, true>(
      async (keys) => {
        runs.push(keys);
        return new Map(keys.map((k) => [k, true as const]));
      },
      64,
      0,
      60_000,
    );
  const turns = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
  };

  it('a run waits for the callers announced before it, across turns, and runs once the last one has asked', async () => {
    const runs: string[][] = [];
    const batch = recording(runs);
    const [first, second, third] = [batch.expect(), batch.expect(), batch.expect()];
    const a = batch.get('a');
    first();
    await turns(3);
    expect(runs).toEqual([]);
    const b = batch.get('b');
    second();
    await turns(3);
    expect(runs).toEqual([]);
    // The last one gives up without asking: the held keys run at once.
    third();
    expect(await Promise.all([a, b])).toEqual([true, true]);
    expect(runs).toEqual([['a', 'b']]);
    // A second release counts once: a caller announced now still holds the next run.
    third();
    const fourth = batch.expect();
    const c = batch.get('c');
    await turns(3);
    expect(runs).toEqual([['a', 'b']]);
    fourth();
    expect(await c).toBe(true);
    // Nobody announced: a lone caller runs at the end of its turn.
    expect(await batch.get('d')).toBe(true);
    expect(runs).toEqual([['a', 'b'], ['c'], ['d']]);
  });

  it('callers announced one after another, without end, hold a run for maxHoldMs only; a held run that fails fails each of its callers', async () => {
    const runs: string[][] = [];
    let fail = false;
    const batch = new TurnBatch<string, true>(async (keys) => {
      runs.push(keys);
      if (fail) throw new Error('store down');
      return new Map(keys.map((k) => [k, true as const]));
    }, 64, 0, 30);
    let announcing = true;
    const releases: Array<() => void> = [];
    const announce = () => {
      if (!announcing) return;
      // A new caller is announced before the one before it gives up: one is always on its way.
      releases.push(batch.expect());
      if (releases.length > 1) releases.shift()!();
      setImmediate(announce);
    };
    announce();
    const started = Date.now();
    expect(await batch.get('a')).toBe(true);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(25);
    expect(waited).toBeLessThan(1_000);
    fail = true;
    const held = [batch.get('b'), batch.get('c')];
    const outcomes = await Promise.allSettled(held);
    announcing = false;
    releases.forEach((release) => release());
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(runs).toEqual([['a'], ['b', 'c']]);
  });

  it('an announced caller that never asks nor releases holds a run for maxHoldMs only', async () => {
    const runs: string[][] = [];
    const batch = new TurnBatch<string, true>(async (keys) => {
      runs.push(keys);
      return new Map(keys.map((k) => [k, true as const]));
    }, 64, 0, 30);
    batch.expect();
    const started = Date.now();
    expect(await batch.get('a')).toBe(true);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(25);
    expect(waited).toBeLessThan(1_000);
    expect(runs).toEqual([['a']]);
  });

  it('without maxHoldMs, announcing is a no-op: runs never wait', async () => {
    const runs: string[][] = [];
    const batch = new TurnBatch<string, true>(async (keys) => {
      runs.push(keys);
      return new Map(keys.map((k) => [k, true as const]));
    });
    batch.expect();
    expect(await batch.get('a')).toBe(true);
    expect(runs).toEqual([['a']]);
  });
});
