import type { RedisConnection, RedisHost } from '../oidc/oidc.options';

const SCHEMES = 'redis://, rediss://, redis+sentinel:// or redis+cluster://';

/**
 * `REDIS_URL` in one of three forms:
 * - `redis://[user:pass@]host:port[/db]` or `rediss://…`: one node, handed to ioredis as is;
 * - `redis+sentinel://[user:pass@]host:port[,host:port…]/<masterName>[?db=N]`: the master that the
 *   Sentinels name (the credentials are those of the master and replicas);
 * - `redis+cluster://[user:pass@]host:port[,host:port…]`: a Cluster, from these seed nodes (db 0 only).
 * Credentials are percent-encoded. Every problem is pushed to `problems`, naming `name`; a value is
 * only ever echoed with its password masked.
 */
export function parseRedisUrl(name: string, value: string, problems: string[]): RedisConnection | undefined {
  const shown = `"${maskRedisUrl(value)}"`;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1].toLowerCase();
  if (scheme === 'redis' || scheme === 'rediss') {
    try {
      new URL(value);
    } catch {
      problems.push(`${name} must be a URL like redis://127.0.0.1:6379, got ${shown}`);
      return undefined;
    }
    return { kind: 'single', url: value };
  }
  if (scheme !== 'redis+sentinel' && scheme !== 'redis+cluster') {
    problems.push(`${name} must start with ${SCHEMES}, got ${shown}`);
    return undefined;
  }

  const rest = value.slice(scheme.length + 3);
  if (rest.includes('#')) {
    problems.push(`${name} must not contain a fragment, got ${shown}`);
    return undefined;
  }
  const authorityEnd = rest.search(/[/?]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const afterAuthority = authorityEnd === -1 ? '' : rest.slice(authorityEnd);
  const at = authority.lastIndexOf('@');
  const before = problems.length;

  let username: string | undefined;
  let password: string | undefined;
  if (at !== -1) {
    const userinfo = authority.slice(0, at);
    const colon = userinfo.indexOf(':');
    try {
      if (colon === -1) throw new Error('no colon');
      username = decodeURIComponent(userinfo.slice(0, colon)) || undefined;
      password = decodeURIComponent(userinfo.slice(colon + 1)) || undefined;
    } catch {
      problems.push(`${name} credentials must look like user:password or :password (percent-encoded), got ${shown}`);
    }
  }

  const hosts = parseHosts(name, authority.slice(at + 1), shown, problems);
  const queryStart = afterAuthority.indexOf('?');
  const path = queryStart === -1 ? afterAuthority : afterAuthority.slice(0, queryStart);
  const query = queryStart === -1 ? undefined : afterAuthority.slice(queryStart + 1);

  if (scheme === 'redis+cluster') {
    if ((path !== '' && path !== '/') || query !== undefined) {
      problems.push(`${name} with redis+cluster:// takes no path and no query (a Cluster has only database 0), got ${shown}`);
    }
    return problems.length > before ? undefined : { kind: 'cluster', nodes: hosts, ...credentials(username, password) };
  }

  const masterName = path.slice(1);
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(masterName)) {
    problems.push(`${name} with redis+sentinel:// must end in /<masterName> (letters, digits, . _ -), like redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster, got ${shown}`);
  }
  let db = 0;
  for (const param of query === undefined ? [] : query.split('&')) {
    const [key, val] = param.split('=', 2);
    if (key === 'db' && val !== undefined && /^\d{1,5}$/.test(val)) db = Number(val);
    else if (key === 'db') problems.push(`${name} db must be a database number like ?db=2, got ${shown}`);
    else problems.push(`${name} with redis+sentinel:// accepts only the query parameter db, got "${key}"`);
  }
  return problems.length > before ? undefined : { kind: 'sentinel', sentinels: hosts, name: masterName, db, ...credentials(username, password) };
}

function credentials(username: string | undefined, password: string | undefined): { username?: string; password?: string } {
  return { ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

/** `host:port[,host:port…]`; IPv6 in brackets. */
function parseHosts(name: string, list: string, shown: string, problems: string[]): RedisHost[] {
  const hosts: RedisHost[] = [];
  if (list.trim() === '') {
    problems.push(`${name} must name at least one host:port, got ${shown}`);
    return hosts;
  }
  for (const entry of list.split(',').map((e) => e.trim())) {
    const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry);
    const port = match ? Number(match[2]) : 0;
    if (!match || port < 1 || port > 65535) {
      problems.push(`${name} host "${entry}" must look like host:port (port 1-65535)`);
      continue;
    }
    const host = match[1].replace(/^\[|\]$/g, '');
    if (hosts.some((h) => h.host === host && h.port === port)) {
      problems.push(`${name} host "${entry}" is listed twice`);
      continue;
    }
    hosts.push({ host, port });
  }
  return hosts;
}

/** The value with its password (or a lone userinfo) replaced by `***`, fit for an error message or a log. */
export function maskRedisUrl(value: string): string {
  const match = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)@/i.exec(value);
  if (!match) return value;
  // The authority's last @ ends the userinfo (a raw @ in a password stays hidden too).
  const authority = value.slice(match[1].length, match[1].length + value.slice(match[1].length).search(/[/?#]|$/));
  const at = authority.lastIndexOf('@');
  const userinfo = authority.slice(0, at);
  const colon = userinfo.indexOf(':');
  const masked = colon === -1 ? '***' : `${userinfo.slice(0, colon)}:***`;
  return `${match[1]}${masked}${value.slice(match[1].length + at)}`;
}
