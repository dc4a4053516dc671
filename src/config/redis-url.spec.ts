import { describe, expect, it } from 'vitest';
import { maskRedisUrl, parseRedisUrl } from './redis-url';

function parse(value: string) {
  const problems: string[] = [];
  const connection = parseRedisUrl('REDIS_URL', value, problems);
  return { connection, problems };
}

describe('parseRedisUrl', () => {
  it.each(['redis://127.0.0.1:6379', 'redis://:s3cret@cache:6379/2', 'rediss://user:pw@cache.example.com:6380'])('one node: %s is passed on as is', (url) => {
    expect(parse(url)).toEqual({ connection: { kind: 'single', url }, problems: [] });
  });

  it('Sentinel: the sentinels, the master name, db 0 by default', () => {
    expect(parse('redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster')).toEqual({
      connection: {
        kind: 'sentinel',
        sentinels: [
          { host: '10.0.0.1', port: 26379 },
          { host: '10.0.0.2', port: 26379 },
        ],
        name: 'mymaster',
        db: 0,
      },
      problems: [],
    });
  });

  it('Sentinel: credentials (percent-decoded), ?db=N, host names and IPv6', () => {
    expect(parse('redis+sentinel://app:p%40ss%3Aw@s1.internal:26379,[::1]:26380/cache.main?db=3').connection).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1.internal', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'cache.main',
      db: 3,
      username: 'app',
      password: 'p@ss:w',
    });
    expect(parse('redis+sentinel://:only-password@s1:26379/m').connection).toMatchObject({ password: 'only-password' });
    expect(parse('redis+sentinel://:only-password@s1:26379/m').connection).not.toHaveProperty('username');
  });

  it('Cluster: the seed nodes, with or without credentials and a trailing slash', () => {
    expect(parse('redis+cluster://10.0.0.1:7000,10.0.0.2:7001,10.0.0.3:7002').connection).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '10.0.0.3', port: 7002 },
      ],
    });
    expect(parse('redis+cluster://:pw@node-a:7000/').connection).toEqual({ kind: 'cluster', nodes: [{ host: 'node-a', port: 7000 }], password: 'pw' });
  });

  it.each([
    ['an unknown scheme', 'http://cache:6379', 'REDIS_URL must start with redis://, rediss://, redis+sentinel:// or redis+cluster://, got "http://cache:6379"'],
    ['no scheme at all', 'cache:6379', 'REDIS_URL must start with redis://, rediss://, redis+sentinel:// or redis+cluster://, got "cache:6379"'],
    ['TLS Sentinel (not supported)', 'rediss+sentinel://s1:26379/m', 'REDIS_URL must start with redis://, rediss://, redis+sentinel:// or redis+cluster://, got "rediss+sentinel://s1:26379/m"'],
    ['a malformed single-node URL', 'redis://cache:port', 'REDIS_URL must be a URL like redis://127.0.0.1:6379, got "redis://cache:port"'],
    ['a Sentinel without master name', 'redis+sentinel://s1:26379', 'REDIS_URL with redis+sentinel:// must end in /<masterName> (letters, digits, . _ -), like redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster, got "redis+sentinel://s1:26379"'],
    ['a master name with a slash', 'redis+sentinel://s1:26379/a/b', 'REDIS_URL with redis+sentinel:// must end in /<masterName> (letters, digits, . _ -), like redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster, got "redis+sentinel://s1:26379/a/b"'],
    ['a Sentinel db that is no number', 'redis+sentinel://s1:26379/m?db=x', 'REDIS_URL db must be a database number like ?db=2, got "redis+sentinel://s1:26379/m?db=x"'],
    ['an unknown Sentinel parameter', 'redis+sentinel://s1:26379/m?tls=true', 'REDIS_URL with redis+sentinel:// accepts only the query parameter db, got "tls"'],
    ['a host without port', 'redis+sentinel://s1/m', 'REDIS_URL host "s1" must look like host:port (port 1-65535)'],
    ['a port out of range', 'redis+cluster://n1:70000', 'REDIS_URL host "n1:70000" must look like host:port (port 1-65535)'],
    ['an empty host in the list', 'redis+cluster://n1:7000,,n2:7000', 'REDIS_URL host "" must look like host:port (port 1-65535)'],
    ['no host at all', 'redis+cluster://', 'REDIS_URL must name at least one host:port, got "redis+cluster://"'],
    ['a host listed twice', 'redis+cluster://n1:7000,n1:7000', 'REDIS_URL host "n1:7000" is listed twice'],
    ['a Cluster with a db', 'redis+cluster://n1:7000/2', 'REDIS_URL with redis+cluster:// takes no path and no query (a Cluster has only database 0), got "redis+cluster://n1:7000/2"'],
    ['a Cluster with a query', 'redis+cluster://n1:7000?db=0', 'REDIS_URL with redis+cluster:// takes no path and no query (a Cluster has only database 0), got "redis+cluster://n1:7000?db=0"'],
    ['credentials without colon', 'redis+cluster://secret@n1:7000', 'REDIS_URL credentials must look like user:password or :password (percent-encoded), got "redis+cluster://***@n1:7000"'],
    ['credentials with a broken escape', 'redis+cluster://:bad%zzpw@n1:7000', 'REDIS_URL credentials must look like user:password or :password (percent-encoded), got "redis+cluster://:***@n1:7000"'],
    ['a fragment', 'redis+cluster://n1:7000#x', 'REDIS_URL must not contain a fragment, got "redis+cluster://n1:7000#x"'],
  ])('rejects %s, naming REDIS_URL', (_case, value, expected) => {
    const { connection, problems } = parse(value);
    expect(connection).toBeUndefined();
    expect(problems).toEqual([expected]);
  });

  it('never echoes a password in a message', () => {
    for (const value of [
      'redis+sentinel://app:TopSecret1@s1:26379',
      'redis+cluster://:TopSecret1@n1/2',
      'redis+cluster://:Top@Secret1@n1:7000?db=1',
      'redis://:TopSecret1@cache:port',
      'http://user:TopSecret1@cache:6379',
      'redis+sentinel://:TopSecret1@s1:26379/m?db=x#frag',
    ]) {
      const { problems } = parse(value);
      expect(problems.length, value).toBeGreaterThan(0);
      expect(problems.join('\n')).not.toContain('TopSecret1');
      expect(problems.join('\n')).not.toContain('Secret1');
    }
  });
});

describe('maskRedisUrl', () => {
  it.each([
    ['redis://:pw@cache:6379/1', 'redis://:***@cache:6379/1'],
    ['redis+sentinel://app:pw@s1:26379,s2:26379/m', 'redis+sentinel://app:***@s1:26379,s2:26379/m'],
    ['redis+cluster://p@w@n1:7000', 'redis+cluster://***@n1:7000'],
    ['redis://cache:6379', 'redis://cache:6379'],
  ])('%s → %s', (value, masked) => {
    expect(maskRedisUrl(value)).toBe(masked);
  });
});
