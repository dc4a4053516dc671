import type { EncryptionKey, OidcModuleOptions, RateLimit, StateStoreKind, UnlinkedIdentityPolicy } from '../oidc/oidc.options';
import ipaddr from 'ipaddr.js';
import type { z } from 'zod';
import { boolSchema, connectionUrlSchema, durationSchema, intSchema, oneOfSchema, problemsOf, rateLimitSchema, urlSchema } from './env-schemas';
import { parseRedisUrl } from './redis-url';
import { loadProviders } from './providers-config';

export interface DatabaseTimeouts {
  /** Postgres `statement_timeout`: a statement running longer is cancelled (answers 503). */
  statementTimeoutMs: number;
  /** How long to wait for a Postgres connection. */
  connectTimeoutMs: number;
}

/** Where `GET /metrics` is served: off, on the app's port, or on a port of its own. */
export type MetricsExposure = { enabled: false } | { enabled: true; port?: number; host: string };

export interface AppConfig {
  port: number;
  metrics: MetricsExposure;
  databaseUrl: string;
  database: DatabaseTimeouts;
  /** Express `trust proxy` value: which proxies' `X-Forwarded-For` decides the client IP. */
  trustProxy: boolean | number | string[];
  oidc: OidcModuleOptions;
}

export type Env = Record<string, string | undefined>;

/** Thrown when the environment is invalid; its message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/oidc_rp';

/**
 * Reads the environment one variable at a time through its zod schema (`env-schemas.ts`), collecting
 * every problem, each naming its variable; a variable that fails keeps its fallback so that the
 * checks after it still run (and report), and `loadAppConfig` throws them all at once.
 */
export class EnvReader {
  readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  /** Parses `value` (by default the variable itself) with `schema`; on failure records the problems and returns `fallback`. */
  parse<T>(name: string, schema: z.ZodType<T, string>, fallback: T, value: string | undefined = this.raw(name)): T {
    if (value === undefined) return fallback;
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    this.problems.push(...problemsOf(name, result.error));
    return fallback;
  }

  required(name: string, why = 'is required'): string {
    const value = this.raw(name);
    if (value === undefined) this.problems.push(`${name} ${why}`);
    return value ?? '';
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  bool(name: string, fallback: boolean): boolean {
    return this.parse(name, boolSchema, fallback);
  }

  int(name: string, fallback: number, min: number, max: number): number {
    return this.parse(name, intSchema(min, max), fallback);
  }

  duration(name: string, fallback: string): number {
    return this.parse(name, durationSchema, 0, this.raw(name) ?? fallback);
  }

  /** A duration that may be `0` (= off). */
  durationOrOff(name: string, fallback: string): number {
    const value = this.raw(name) ?? fallback;
    return value === '0' ? 0 : this.parse(name, durationSchema, 0, value);
  }

  oneOf<T extends string>(name: string, allowed: readonly [T, ...T[]], fallback: T): T {
    return this.parse(name, oneOfSchema(allowed), fallback, this.raw(name) ?? fallback);
  }

  /** An absolute http(s) URL (http only when `allowHttp`), no credentials, no fragment. */
  url(name: string, value: string | undefined, allowHttp: boolean): string | undefined {
    if (value === undefined || value === '') return undefined;
    return this.parse<string | undefined>(name, urlSchema(allowHttp), undefined, value);
  }

  /** `N/duration` (e.g. `120/1m`): at most N requests per window; `0` = off. */
  rateLimit(name: string, fallback: string): RateLimit {
    return this.parse(name, rateLimitSchema, { limit: 0, windowMs: 60_000 }, this.raw(name) ?? fallback);
  }

  /** Comma-separated list of origins (`scheme://host[:port]`, no path). */
  origins(name: string, allowHttp: boolean): string[] {
    const origins: string[] = [];
    for (const entry of (this.raw(name) ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
      const url = this.url(name, entry, allowHttp);
      if (!url) continue;
      const parsed = new URL(url);
      if (parsed.pathname !== '/' || parsed.search || entry.replace(/\/$/, '').toLowerCase() !== parsed.origin) {
        this.problems.push(`${name} entry "${entry}" must be an origin like https://app.example.com (no path)`);
        continue;
      }
      origins.push(parsed.origin);
    }
    return origins;
  }

  connectionUrl(name: string, fallback: string, protocols: string[]): string {
    const value = this.string(name, fallback);
    this.parse(name, connectionUrlSchema(protocols, fallback), value, value);
    return value;
  }
}

/** `kid:base64key[,kid:base64key…]`, 32-byte keys, distinct ids. */
export function parseEncryptionKeys(value: string, name: string, problems: string[]): EncryptionKey[] {
  const keys: EncryptionKey[] = [];
  for (const [index, entry] of value.split(',').entries()) {
    const separator = entry.indexOf(':');
    const id = entry.slice(0, separator).trim();
    const material = entry.slice(separator + 1).trim();
    if (separator <= 0 || !/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
      problems.push(`${name} entry ${index + 1} must look like kid:base64key (kid: letters, digits, _ or -)`);
      continue;
    }
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(material)) {
      problems.push(`${name} key "${id}" is not base64`);
      continue;
    }
    const key = Buffer.from(material, 'base64');
    if (key.length !== 32) {
      problems.push(`${name} key "${id}" must decode to 32 bytes, got ${key.length}`);
      continue;
    }
    if (keys.some((k) => k.id === id)) {
      problems.push(`${name} key id "${id}" is used twice`);
      continue;
    }
    keys.push({ id, key });
  }
  return keys;
}

/**
 * `TRUST_PROXY`, with Express's trust-proxy meaning: unset/`false` = the socket address is the client;
 * `true` = trust every proxy (only behind a proxy that overwrites X-Forwarded-For); a number = that
 * many hops; otherwise a comma list of addresses, subnets or `loopback`/`linklocal`/`uniquelocal`.
 */
export function parseTrustProxy(value: string | undefined, problems: string[]): boolean | number | string[] {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number(value);
  const entries = value.split(',').map((e) => e.trim()).filter(Boolean);
  const bad = entries.filter((e) => !['loopback', 'linklocal', 'uniquelocal'].includes(e) && !isAddressOrSubnet(e));
  if (bad.length || entries.length === 0) {
    problems.push(`TRUST_PROXY must be true, false, a hop count, or a list of addresses/subnets (loopback, 10.0.0.0/8, …), got "${value}"`);
    return false;
  }
  return entries;
}

/** An IPv4/IPv6 address, or a subnet in CIDR form with a prefix that fits the address family. */
function isAddressOrSubnet(entry: string): boolean {
  if (entry.includes('/')) {
    try {
      ipaddr.parseCIDR(entry);
      return true;
    } catch {
      return false;
    }
  }
  return ipaddr.isValid(entry);
}

export function loadDatabaseUrl(env: Env = process.env): string {
  const reader = new EnvReader(env);
  const url = reader.connectionUrl('DATABASE_URL', DEFAULT_DATABASE_URL, ['postgres:', 'postgresql:']);
  if (reader.problems.length) throw new ConfigError(reader.problems);
  return url;
}

/** Validates the whole environment once, at startup. Throws `ConfigError` naming each bad variable. */
export function loadAppConfig(env: Env = process.env): AppConfig {
  const r = new EnvReader(env);
  const port = r.int('PORT', 3000, 1, 65535);
  const databaseUrl = r.connectionUrl('DATABASE_URL', DEFAULT_DATABASE_URL, ['postgres:', 'postgresql:']);
  // No default Redis: without REDIS_URL the state store is Postgres (STATE_STORE overrides the choice).
  const hasRedisUrl = r.raw('REDIS_URL') !== undefined;
  const redis = hasRedisUrl ? parseRedisUrl('REDIS_URL', r.raw('REDIS_URL') as string, r.problems) : undefined;
  const stateStore = r.oneOf<StateStoreKind>('STATE_STORE', ['redis', 'postgres'], hasRedisUrl ? 'redis' : 'postgres');
  if (stateStore === 'redis' && !hasRedisUrl) r.problems.push('REDIS_URL is required when STATE_STORE=redis');
  const allowInsecureHttp = r.bool('OIDC_ALLOW_INSECURE_HTTP', false);

  const providers = loadProviders(r, allowInsecureHttp);
  const redirectUri = providers[0]?.redirectUri ?? '';

  const keysRaw = r.required('OIDC_TOKEN_ENCRYPTION_KEYS', 'is required (kid:base64 32-byte key, e.g. k1:$(openssl rand -base64 32))');
  const tokenEncryptionKeys = keysRaw ? parseEncryptionKeys(keysRaw, 'OIDC_TOKEN_ENCRYPTION_KEYS', r.problems) : [];

  const unlinkedIdentity = r.oneOf<UnlinkedIdentityPolicy>('OIDC_UNLINKED_IDENTITY', ['bind', 'create', 'reject'], 'bind');
  const bindPageUrl =
    unlinkedIdentity === 'bind'
      ? r.url('OIDC_BIND_PAGE_URL', r.required('OIDC_BIND_PAGE_URL', 'is required when OIDC_UNLINKED_IDENTITY=bind'), allowInsecureHttp)
      : r.url('OIDC_BIND_PAGE_URL', r.raw('OIDC_BIND_PAGE_URL'), allowInsecureHttp);

  const returnToAllowedHosts = r
    .string('OIDC_RETURN_TO_ALLOWED_HOSTS', '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  for (const host of returnToAllowedHosts) {
    if (!/^[a-z0-9.-]+(:\d{1,5})?$/.test(host)) {
      r.problems.push(`OIDC_RETURN_TO_ALLOWED_HOSTS entry "${host}" must be a host name, optionally with :port`);
    }
  }

  const cookieSecure = !redirectUri.startsWith('http:');
  // Over https the session cookie defaults to the __Host- prefix: a sibling subdomain or a network
  // attacker cannot set or shadow it (no Domain, Secure, Path=/).
  const sessionCookieName = r.string('SESSION_COOKIE_NAME', cookieSecure ? '__Host-session' : 'session');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(sessionCookieName)) {
    r.problems.push('SESSION_COOKIE_NAME must be 1-64 letters, digits, _ or -');
  }
  if (/^__(Host|Secure)-/.test(sessionCookieName) && !cookieSecure) {
    r.problems.push(`SESSION_COOKIE_NAME "${sessionCookieName}" needs https (browsers drop __Host-/__Secure- cookies over http)`);
  }

  const trustProxy = parseTrustProxy(r.raw('TRUST_PROXY'), r.problems);

  const oidc: OidcModuleOptions = {
    providers,
    allowInsecureHttp,
    stateStore,
    redis,
    redisCommandTimeoutMs: r.duration('REDIS_COMMAND_TIMEOUT', '2s'),
    tokenEncryptionKeys,
    idTokenTtlMs: r.duration('OIDC_ID_TOKEN_TTL', '168h'),
    returnToAllowedHosts,
    unlinkedIdentity,
    bindPageUrl,
    bindTokenTtlMs: r.duration('OIDC_BIND_TOKEN_TTL', '10m'),
    bindAllowCreate: r.bool('OIDC_BIND_ALLOW_CREATE', true),
    bindMaxAttemptsPerToken: r.int('OIDC_BIND_MAX_ATTEMPTS', 5, 1, 100),
    bindMaxAttemptsPerAccount: r.int('OIDC_BIND_MAX_ACCOUNT_ATTEMPTS', 10, 1, 1000),
    bindAccountWindowMs: r.duration('OIDC_BIND_ACCOUNT_WINDOW', '15m'),
    loginErrorUrl: r.url('OIDC_LOGIN_ERROR_URL', r.raw('OIDC_LOGIN_ERROR_URL'), allowInsecureHttp),
    sessionTtlMs: r.duration('SESSION_TTL', '7d'),
    sessionCookieName,
    cookieSecure,
    clockToleranceSec: r.int('OIDC_CLOCK_TOLERANCE_SECONDS', 30, 0, 300),
    allowedOrigins: r.origins('OIDC_ALLOWED_ORIGINS', allowInsecureHttp),
    sessionIdleTimeoutMs: r.durationOrOff('SESSION_IDLE_TIMEOUT', '8h'),
    sessionRetentionMs: r.duration('SESSION_RETENTION', '30d'),
    purgeIntervalMs: r.duration('SESSION_PURGE_INTERVAL', '15m'),
    outboxRetryIntervalMs: r.duration('OIDC_OUTBOX_RETRY_INTERVAL', '15s'),
    httpTimeoutMs: r.duration('OIDC_HTTP_TIMEOUT', '10s'),
    accessTokenRefreshSkewMs: r.durationOrOff('OIDC_ACCESS_TOKEN_REFRESH_SKEW', '30s'),
    bindMaxTokensPerIdentity: r.int('OIDC_BIND_MAX_TOKENS_PER_IDENTITY', 10, 1, 1000),
    bindMaxAttemptsPerIp: r.int('OIDC_BIND_MAX_IP_ATTEMPTS', 30, 1, 10000),
    identityChangeMaxAuthAgeMs: r.duration('OIDC_IDENTITY_CHANGE_MAX_AUTH_AGE', '10m'),
    rateLimit: r.rateLimit('OIDC_RATE_LIMIT', '600/1m'),
    backchannelRateLimit: r.rateLimit('OIDC_BACKCHANNEL_RATE_LIMIT', '600/1m'),
    backchannelDirectPath: r.bool('OIDC_BACKCHANNEL_DIRECT_PATH', true),
  };
  const database: DatabaseTimeouts = {
    statementTimeoutMs: r.duration('DATABASE_STATEMENT_TIMEOUT', '5s'),
    connectTimeoutMs: r.duration('DATABASE_CONNECT_TIMEOUT', '5s'),
  };

  if (oidc.bindTokenTtlMs > 3_600_000) r.problems.push('OIDC_BIND_TOKEN_TTL must be at most 1h');
  if (oidc.httpTimeoutMs < 1000 || oidc.httpTimeoutMs > 120_000) r.problems.push('OIDC_HTTP_TIMEOUT must be from 1s to 120s');
  // Activity is recorded at most once a minute, so a shorter idle timeout would end active sessions.
  if (oidc.sessionIdleTimeoutMs !== 0 && oidc.sessionIdleTimeoutMs < 300_000) r.problems.push('SESSION_IDLE_TIMEOUT must be 0 (off) or at least 5m');
  if (oidc.purgeIntervalMs < 1000) r.problems.push('SESSION_PURGE_INTERVAL must be at least 1s');
  if (oidc.outboxRetryIntervalMs < 1000) r.problems.push('OIDC_OUTBOX_RETRY_INTERVAL must be at least 1s');
  if (oidc.redisCommandTimeoutMs < 100) r.problems.push('REDIS_COMMAND_TIMEOUT must be at least 100ms');
  if (database.statementTimeoutMs < 100) r.problems.push('DATABASE_STATEMENT_TIMEOUT must be at least 100ms');

  const metricsEnabled = r.bool('METRICS_ENABLED', true);
  const metricsPort = r.raw('METRICS_PORT') === undefined ? undefined : r.int('METRICS_PORT', 0, 1, 65535);
  if (metricsPort !== undefined && metricsPort === port) r.problems.push('METRICS_PORT must differ from PORT (leave it unset to serve /metrics on the app port)');
  const metricsHost = r.string('METRICS_HOST', '127.0.0.1');
  if (!ipaddr.isValid(metricsHost) && metricsHost !== 'localhost') r.problems.push(`METRICS_HOST must be an IP address to listen on (0.0.0.0 for every interface), got "${metricsHost}"`);
  const metrics: MetricsExposure = metricsEnabled ? { enabled: true, port: metricsPort, host: metricsHost } : { enabled: false };

  if (r.problems.length) throw new ConfigError(r.problems);
  return { port, metrics, databaseUrl, database, trustProxy, oidc };
}
