import Redis, { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../src/config/redis-url';
import type { RedisConnection } from '../src/oidc/oidc.options';
import { e2e, jsonBody, type RunningApp, startApp, testCipher } from './support/app';
import { loginThroughOp } from './support/flows';
import { type RedisTopology, startCluster, startSentinel, tryStart } from './support/redis-topologies';

/**
 * The app on a Redis Cluster and behind Sentinel, each started here from `redis-server`: it boots
 * with that `REDIS_URL`, /health reports the store up, and a login and a logout work, with the
 * session's tokens in the topology under the hash-tagged vault keys. Runs in the `e2e` project only
 * (the topology is the same for both projects); a topology that cannot start skips, saying why.
 */

const onPostgresProject = process.env.E2E_STATE_STORE === 'postgres';
if (onPostgresProject) console.warn('[e2e-pg] SKIPPED "Redis topologies": the e2e project runs them (they do not depend on the project\'s state store)');

describe.skipIf(onPostgresProject).each([
  ['Cluster (3 masters)', startCluster, 'u112'],
  ['Sentinel (master + replica + sentinel)', startSentinel, 'u113'],
] as const)('the app on a Redis %s', (name, start, username) => {
  let topology: RedisTopology | undefined;
  let skipped: string | undefined;
  let app: RunningApp;
  let redis: Redis | Cluster;

  beforeAll(async () => {
    ({ topology, skipped } = await tryStart(start));
    if (!topology) {
      console.warn(`[e2e] "the app on a Redis ${name}" SKIPPED: ${skipped}`);
      return;
    }
    console.log(`[e2e] Redis ${name} started in ${topology.startupMs} ms: ${topology.url}`);
    app = await startApp({ STATE_STORE: 'redis', REDIS_URL: topology.url, OIDC_UNLINKED_IDENTITY: 'create' });
    redis = client(parseRedisUrl('REDIS_URL', topology.url, []) as RedisConnection);
  });
  afterAll(async () => {
    await app?.close();
    await redis?.quit();
    await topology?.stop();
  });

  it('boots on it: /health reports the Redis state store up', async (ctx) => {
    if (!topology) return ctx.skip();
    const health = await fetch(`${app.url}/health`);
    expect(health.status).toBe(200);
    expect(await jsonBody(health)).toMatchObject({ status: 'ok', stateStore: 'up', stateStoreKind: 'redis' });
    expect(app.logs.some((line) => line.includes('state_store.selected') && line.includes('redis'))).toBe(true);
  });

  it('login stores the tokens under one hash tag; logout hands out the id_token and deletes them', async (ctx) => {
    if (!topology) return ctx.skip();
    const { browser } = await loginThroughOp(app.url, username);
    const me = JSON.parse((await browser.request(`${app.url}/auth/session`)).text);
    const owner = `session:${me.session.id}`;
    const keys = [`oidc:vault:{${owner}}:id_token`, `oidc:vault:{${owner}}:refresh_token`];
    // Read in one MGET: on a Cluster that works only because both keys share a slot.
    const [idToken, refreshToken] = await redis.mget(...keys);
    expect(refreshToken).toBeTruthy();
    const hint = testCipher.decrypt(idToken as string, `${owner}:id_token`) as string;
    expect(hint.split('.')).toHaveLength(3);

    const out = await browser.request(`${app.url}/auth/oidc/logout`, { json: {} });
    expect(out.status).toBe(200);
    const endSessionUrl = new URL(JSON.parse(out.text).endSessionUrl);
    expect(`${endSessionUrl.origin}${endSessionUrl.pathname}`).toBe(`${e2e().opUrl}/session/end`);
    expect(endSessionUrl.searchParams.get('id_token_hint')).toBe(hint);
    expect((await browser.request(`${app.url}/auth/session`)).status).toBe(401);
    expect(await redis.exists(...keys)).toBe(0);
  });
});

/** A client of the topology for the test's own reads (not the app's adapter). */
function client(connection: RedisConnection): Redis | Cluster {
  if (connection.kind === 'cluster') return new Cluster(connection.nodes);
  if (connection.kind === 'sentinel') return new Redis({ sentinels: connection.sentinels, name: connection.name });
  return new Redis(connection.url);
}
