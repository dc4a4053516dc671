import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseRedisUrl } from '../src/config/redis-url';
import { TokenCipher } from '../src/oidc/crypto/token-cipher';
import type { RedisConnection } from '../src/oidc/oidc.options';
import { redisKeys, vaultOwner } from '../src/oidc/stores/redis-keys';
import { RedisStateStore } from '../src/oidc/stores/redis/redis-state.store';
import { TokenVaultStore } from '../src/oidc/stores/token-vault.store';
import type { StartedTopology } from './support/contract-setup';
import { cli } from './support/redis-topologies';
import { stateStoreContract } from './support/state-store-contract';

/**
 * The state-store contract against real Redis topologies, started from Debian's `redis-server` by
 * support/contract-setup.ts: a Sentinel setup (master, replica, sentinel) and a 3-master Cluster,
 * each reached through `RedisStateStore.connect` with a parsed `REDIS_URL`. A topology that could not
 * start skips its part, with the reason printed.
 */

const { sentinel, cluster } = inject('contract');
for (const [name, started] of [['Sentinel', sentinel], ['Cluster', cluster]] as const) {
  if (started.skipped) console.warn(`[redis topologies] ${name} part SKIPPED: ${started.skipped}`);
  else console.log(`[redis topologies] ${name} started in ${started.startupMs} ms: ${started.url}`);
}

type Topology = Required<Pick<StartedTopology, 'url' | 'ports'>>;

function connection(topology: Topology): RedisConnection {
  const problems: string[] = [];
  const parsed = parseRedisUrl('REDIS_URL', topology.url, problems);
  expect(problems).toEqual([]);
  return parsed as RedisConnection;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Four stores (four app instances) on one topology, closed after the suite (the setup stops the topology). */
function storesOn(topology: Topology) {
  const stores: RedisStateStore[] = [];
  beforeAll(() => {
    for (let i = 0; i < 4; i++) stores.push(RedisStateStore.connect(connection(topology)));
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });
  return stores;
}

describe.skipIf(sentinel.skipped !== undefined)('StateStore contract: Redis through Sentinel (master + replica + sentinel)', () => {
  const topology = sentinel as Topology;
  const stores = storesOn(topology);

  it('the REDIS_URL parses as a Sentinel connection', () => {
    expect(connection(topology)).toMatchObject({ kind: 'sentinel', name: 'mymaster', db: 0 });
  });

  stateStoreContract(() => stores);

  it('writes land on the master and reach the replica', async () => {
    const [masterPort, replicaPort] = topology.ports;
    const key = `oidc:contract:sentinel:${Date.now()}`;
    await stores[0].set(key, 'v', 60_000);
    expect((await cli(masterPort, 'GET', key)).trim()).toBe('v');
    for (let i = 0; i < 50 && (await cli(replicaPort, 'GET', key)).trim() !== 'v'; i++) await sleep(100);
    expect((await cli(replicaPort, 'GET', key)).trim()).toBe('v');
    await stores[0].delete([key]);
  });
});

describe.skipIf(cluster.skipped !== undefined)('StateStore contract: Redis Cluster (3 masters)', () => {
  const topology = cluster as Topology;
  const stores = storesOn(topology);

  it('the REDIS_URL parses as a Cluster connection of the three nodes', () => {
    expect(connection(topology)).toMatchObject({ kind: 'cluster', nodes: topology.ports.map((port) => ({ host: '127.0.0.1', port })) });
  });

  stateStoreContract(() => stores);

  it('setMany refuses keys of several hash tags (no atomic write across slots), and writes none of them', async () => {
    const [a, b] = ['oidc:contract:{cross-a}:x', 'oidc:contract:{cross-b}:x'];
    expect(await clusterSlot(a)).not.toBe(await clusterSlot(b));
    await expect(
      stores[0].setMany([
        { key: a, value: '1', ttlMs: 60_000 },
        { key: b, value: '2', ttlMs: 60_000 },
      ]),
    ).rejects.toThrow(/one hash tag/);
    expect(await stores[0].mget([a, b])).toEqual([undefined, undefined]);
  });

  it('the token vault on a Cluster: putAll per owner, deleteAll across owners on several nodes', async () => {
    const vault = new TokenVaultStore(stores[0], new TokenCipher([{ id: 'k', key: Buffer.alloc(32, 3) }]));
    const owners = Array.from({ length: 12 }, (_, i) => vaultOwner.session(`topology-${Date.now()}-${i}`));
    const notAfter = new Date(Date.now() + 60_000);
    for (const owner of owners) {
      await vault.putAll(
        owner,
        [
          { kind: 'id_token', token: `id-${owner}`, ttlMs: 60_000 },
          { kind: 'refresh_token', token: `rt-${owner}`, ttlMs: 60_000 },
        ],
        notAfter,
      );
    }
    // An owner's keys share a slot; the owners spread over the nodes.
    const slots = await Promise.all(owners.map((owner) => clusterSlot(redisKeys.vault(owner, 'id_token'))));
    expect(await clusterSlot(redisKeys.vault(owners[0], 'refresh_token'))).toBe(slots[0]);
    expect(new Set(await Promise.all(slots.map(nodeOfSlot))).size).toBeGreaterThan(1);
    expect(await vault.get(owners[5], 'refresh_token')).toBe(`rt-${owners[5]}`);

    await vault.deleteAll(owners);
    const left = await stores[1].mget(owners.flatMap((owner) => [redisKeys.vault(owner, 'id_token'), redisKeys.vault(owner, 'refresh_token')]));
    expect(left.every((v) => v === undefined)).toBe(true);
  });

  /** The slot of a key, as the Cluster computes it. */
  async function clusterSlot(key: string): Promise<number> {
    return Number((await cli(topology.ports[0], 'CLUSTER', 'KEYSLOT', key)).trim());
  }

  /** The port of the master that serves a slot. */
  async function nodeOfSlot(slot: number): Promise<number> {
    const nodes = (await cli(topology.ports[0], 'CLUSTER', 'NODES')).trim().split('\n');
    for (const line of nodes) {
      const fields = line.split(' ');
      const port = Number(fields[1].split('@')[0].split(':').pop());
      for (const range of fields.slice(8)) {
        const [from, to = from] = range.split('-').map(Number);
        if (slot >= from && slot <= to) return port;
      }
    }
    throw new Error(`no node serves slot ${slot}`);
  }
});

// After the contracts (their clean-up needs every node): a failover, and a Cluster losing a master.

describe.skipIf(sentinel.skipped !== undefined)('Redis through Sentinel: failover', () => {
  const topology = sentinel as Topology;
  const stores = storesOn(topology);

  it('after a failover every store writes to the new master; the old one becomes its replica', async () => {
    const [masterPort, replicaPort, sentinelPort] = topology.ports;
    const key = `oidc:contract:failover:${Date.now()}`;
    await Promise.all(stores.map((store) => store.ping()));
    const started = Date.now();
    expect((await cli(sentinelPort, 'SENTINEL', 'FAILOVER', 'mymaster')).trim()).toBe('OK');

    // The replica is promoted: from then on it replicates from no one, so a value found there was written to it.
    // Sentinel drops the clients of a node it reconfigures: a probe that lands then is asked again.
    const role = async (port: number) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return (await cli(port, 'ROLE')).split('\n')[0];
        } catch (error) {
          if (attempt === 20) throw error;
          await sleep(50);
        }
      }
    };
    for (let i = 0; i < 150 && (await role(replicaPort)) !== 'master'; i++) await sleep(50);
    expect(await role(replicaPort)).toBe('master');
    const promotedMs = Date.now() - started;

    // A command in the switch may fail (the app answers 503 then) or land on the old master (lost
    // when it resyncs); each store writes to the new master soon after.
    const failures: string[] = [];
    const reachedMs: number[] = [];
    await Promise.all(
      stores.map(async (store, index) => {
        for (let i = 0; ; i++) {
          try {
            await store.set(`${key}:${index}`, `after-${i}`, 60_000);
            if ((await cli(replicaPort, 'GET', `${key}:${index}`)).trim() === `after-${i}`) break;
            failures.push('a write went to the old master');
          } catch (error) {
            failures.push((error as Error).message);
          }
          if (i === 300) throw new Error(`store ${index} did not reach the new master: ${failures.join('; ')}`);
          await sleep(50);
        }
        reachedMs.push(Date.now() - started);
      }),
    );
    expect(await cli(sentinelPort, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'mymaster')).toContain(String(replicaPort));
    expect((await stores[1].mget(stores.map((_, i) => `${key}:${i}`))).every((v) => v?.startsWith('after-'))).toBe(true);
    for (let i = 0; i < 200 && (await role(masterPort)) !== 'slave'; i++) await sleep(100);
    expect(await role(masterPort)).toBe('slave');
    console.log(
      `[redis topologies] Sentinel failover: replica promoted ${promotedMs} ms after SENTINEL FAILOVER, the 4 stores write to it after ${Math.min(...reachedMs)}-${Math.max(...reachedMs)} ms; ` +
        `old master demoted after ${Date.now() - started} ms; ${failures.length} failed or misdirected attempts${failures.length ? ` (${[...new Set(failures)].join('; ')})` : ''}`,
    );
    await stores[0].delete(stores.map((_, i) => `${key}:${i}`));
  }, 40_000);
});

describe.skipIf(cluster.skipped !== undefined)('Redis Cluster: a master lost', () => {
  const topology = cluster as Topology;
  const stores = storesOn(topology);

  it('ping passes while every master answers, and fails once one is gone (a lost shard shows in /health)', async () => {
    await expect(stores[0].ping()).resolves.toBeUndefined();
    await cli(topology.ports[2], 'SHUTDOWN', 'NOSAVE').catch(() => undefined);
    const started = Date.now();
    let failure: Error | undefined;
    while (!failure && Date.now() - started < 15_000) {
      failure = await stores[0].ping().then(() => undefined, (error: Error) => error);
      if (!failure) await sleep(200);
    }
    console.log(`[redis topologies] Cluster with a master shut down: ping fails after ${Date.now() - started} ms (${failure?.message})`);
    expect(failure).toBeInstanceOf(Error);
    // The first failure can be the dead node's own connection closing, before the other masters have
    // declared it failed (cluster-node-timeout): until then keys on the live shards are still served.
    // The Cluster as a whole refuses once its state is not ok.
    while (!/state is not ok|CLUSTERDOWN/i.test(failure?.message ?? '') && Date.now() - started < 20_000) {
      await sleep(200);
      failure = (await stores[0].ping().then(() => undefined, (error: Error) => error)) ?? failure;
    }
    console.log(`[redis topologies] Cluster with a master shut down: the Cluster refuses after ${Date.now() - started} ms (${failure?.message})`);

    // With cluster-require-full-coverage (the default) the whole Cluster now refuses commands
    // (CLUSTERDOWN): every read fails (a 503 for the request), in bounded time.
    const began = Date.now();
    const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => stores[1].get(`oidc:contract:lost-shard:${i}`)));
    const took = Date.now() - began;
    const rejected = results.filter((r) => r.status === 'rejected');
    console.log(`[redis topologies] Cluster with a master shut down: ${rejected.length}/30 reads fail, all settled in ${took} ms`);
    expect(rejected).toHaveLength(30);
    expect(took).toBeLessThan(10_000);
  }, 40_000);
});
