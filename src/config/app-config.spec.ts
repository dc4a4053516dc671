import { describe, expect, it } from 'vitest';
import { type Env, loadAppConfig } from './app-config';
import { problems } from './config-problems.test-helper';

const KEY = Buffer.alloc(32, 7).toString('base64');

const valid: Env = {
  OIDC_ISSUER: 'https://sso.example.com/realms/acme',
  OIDC_CLIENT_ID: 'app',
  OIDC_CLIENT_SECRET: 'secret',
  OIDC_REDIRECT_URI: 'https://app.example.com/auth/oidc/callback',
  OIDC_TOKEN_ENCRYPTION_KEYS: `k1:${KEY}`,
  OIDC_BIND_PAGE_URL: 'https://app.example.com/bind',
};


describe('loadAppConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadAppConfig(valid);
    expect(config.port).toBe(3000);
    expect(config.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/oidc_rp');
    expect(config.oidc).toMatchObject({
      stateStore: 'postgres',
      allowInsecureHttp: false,
      idTokenTtlMs: 168 * 3_600_000,
      sessionTtlMs: 7 * 86_400_000,
      bindTokenTtlMs: 600_000,
      unlinkedIdentity: 'bind',
      bindAllowCreate: true,
      sessionCookieName: '__Host-session',
      cookieSecure: true,
      returnToAllowedHosts: [],
    });
    expect(config.oidc.providers).toHaveLength(1);
    expect(config.oidc.providers[0]).toMatchObject({ id: 'default', scopes: 'openid profile email', clientAuth: 'client_secret_post', par: 'auto' });
    expect(config.oidc.providers[0].postLogoutRedirectUri).toBeUndefined();
    expect(config.oidc.redis).toBeUndefined();
    expect(config.oidc.tokenEncryptionKeys).toEqual([{ id: 'k1', key: Buffer.alloc(32, 7) }]);
  });

  it('picks the state store: REDIS_URL set → redis, unset → postgres, STATE_STORE decides when given', () => {
    expect(loadAppConfig({ ...valid, REDIS_URL: 'redis://cache:6379/2' }).oidc).toMatchObject({ stateStore: 'redis', redis: { kind: 'single', url: 'redis://cache:6379/2' } });
    expect(loadAppConfig({ ...valid, REDIS_URL: 'redis+cluster://10.0.0.1:7000,10.0.0.2:7000' }).oidc).toMatchObject({ stateStore: 'redis', redis: { kind: 'cluster' } });
    expect(loadAppConfig({ ...valid, REDIS_URL: 'redis+sentinel://10.0.0.1:26379/mymaster' }).oidc).toMatchObject({ stateStore: 'redis', redis: { kind: 'sentinel' } });
    expect(loadAppConfig(valid).oidc.stateStore).toBe('postgres');
    expect(loadAppConfig({ ...valid, STATE_STORE: 'postgres', REDIS_URL: 'redis://cache:6379' }).oidc.stateStore).toBe('postgres');
    expect(loadAppConfig({ ...valid, STATE_STORE: 'redis', REDIS_URL: 'rediss://cache:6380' }).oidc.stateStore).toBe('redis');
  });

  it('accepts 7d and rotation keys, and never reads a malformed value as a default', () => {
    const other = Buffer.alloc(32, 9).toString('base64');
    const config = loadAppConfig({ ...valid, SESSION_TTL: '7d', OIDC_TOKEN_ENCRYPTION_KEYS: `new:${other},old:${KEY}` });
    expect(config.oidc.sessionTtlMs).toBe(604_800_000);
    expect(config.oidc.tokenEncryptionKeys.map((k) => k.id)).toEqual(['new', 'old']);
  });

  it.each<[string, Env, string]>([
    ['missing issuer', { OIDC_ISSUER: undefined }, 'OIDC_ISSUER is required'],
    ['http issuer', { OIDC_ISSUER: 'http://sso.example.com' }, 'OIDC_ISSUER must use https'],
    ['relative issuer', { OIDC_ISSUER: 'sso.example.com' }, 'OIDC_ISSUER must be an absolute URL'],
    ['missing client id', { OIDC_CLIENT_ID: '' }, 'OIDC_CLIENT_ID is required'],
    ['missing client secret', { OIDC_CLIENT_SECRET: undefined }, 'OIDC_CLIENT_SECRET is required'],
    ['bad duration', { SESSION_TTL: '7x' }, 'SESSION_TTL must be a duration like 30s, 15m, 168h or 7d, got "7x"'],
    ['idle timeout too short', { SESSION_IDLE_TIMEOUT: '2m' }, 'SESSION_IDLE_TIMEOUT must be 0 (off) or at least 5m'],
    ['idle timeout malformed', { SESSION_IDLE_TIMEOUT: 'never' }, 'SESSION_IDLE_TIMEOUT must be a duration'],
    ['retention malformed', { SESSION_RETENTION: '30' }, 'SESSION_RETENTION must be a duration'],
    ['origin with a path', { OIDC_ALLOWED_ORIGINS: 'https://spa.example.com/app' }, 'OIDC_ALLOWED_ORIGINS entry "https://spa.example.com/app" must be an origin'],
    ['http origin without the insecure flag', { OIDC_ALLOWED_ORIGINS: 'http://spa.example.com' }, 'OIDC_ALLOWED_ORIGINS must use https'],
    ['trust proxy malformed', { TRUST_PROXY: 'yes please' }, 'TRUST_PROXY must be true, false, a hop count, or a list'],
    ['trust proxy bad address', { TRUST_PROXY: '999.1.1.1' }, 'TRUST_PROXY must be true, false, a hop count, or a list'],
    ['trust proxy bad prefix', { TRUST_PROXY: '10.0.0.0/99' }, 'TRUST_PROXY must be true, false, a hop count, or a list'],
    ['redirect URI not the callback', { OIDC_REDIRECT_URI: 'https://app.example.com/auth/oidc/callback/' }, 'OIDC_REDIRECT_URI must be the URL of this provider\'s callback route'],
    ['prefixed cookie over http', { OIDC_ALLOW_INSECURE_HTTP: 'true', OIDC_REDIRECT_URI: 'http://localhost:3000/auth/oidc/callback', SESSION_COOKIE_NAME: '__Host-s' }, 'SESSION_COOKIE_NAME "__Host-s" needs https'],
    ['missing-exp opt-in malformed', { OIDC_BACKCHANNEL_ALLOW_MISSING_EXP: 'maybe' }, 'OIDC_BACKCHANNEL_ALLOW_MISSING_EXP must be true or false'],
    ['back-channel max age too long', { OIDC_BACKCHANNEL_MAX_AGE: '2h' }, 'OIDC_BACKCHANNEL_MAX_AGE must be at most 1h'],
    ['direct path switch malformed', { OIDC_BACKCHANNEL_DIRECT_PATH: 'on' }, 'OIDC_BACKCHANNEL_DIRECT_PATH must be true or false'],
    ['OP timeout too short', { OIDC_HTTP_TIMEOUT: '10ms' }, 'OIDC_HTTP_TIMEOUT must be from 1s to 120s'],
    ['statement timeout malformed', { DATABASE_STATEMENT_TIMEOUT: '5 seconds' }, 'DATABASE_STATEMENT_TIMEOUT must be a duration'],
    ['Redis command timeout too short', { REDIS_COMMAND_TIMEOUT: '10ms' }, 'REDIS_COMMAND_TIMEOUT must be at least 100ms'],
    ['bad id token ttl', { OIDC_ID_TOKEN_TTL: '1w' }, 'OIDC_ID_TOKEN_TTL must be a duration'],
    ['bad bind ttl', { OIDC_BIND_TOKEN_TTL: 'ten minutes' }, 'OIDC_BIND_TOKEN_TTL must be a duration'],
    ['bind ttl too long', { OIDC_BIND_TOKEN_TTL: '2h' }, 'OIDC_BIND_TOKEN_TTL must be at most 1h'],
    ['bad port', { PORT: '70000' }, 'PORT must be an integer from 1 to 65535'],
    ['bad boolean', { OIDC_ALLOW_INSECURE_HTTP: 'yes' }, 'OIDC_ALLOW_INSECURE_HTTP must be true or false'],
    ['bad policy', { OIDC_UNLINKED_IDENTITY: 'merge' }, 'OIDC_UNLINKED_IDENTITY must be one of bind, create, reject'],
    ['bind without page', { OIDC_BIND_PAGE_URL: undefined }, 'OIDC_BIND_PAGE_URL is required when OIDC_UNLINKED_IDENTITY=bind'],
    ['bind page javascript', { OIDC_BIND_PAGE_URL: 'javascript:alert(1)' }, 'OIDC_BIND_PAGE_URL must use https'],
    ['missing keys', { OIDC_TOKEN_ENCRYPTION_KEYS: undefined }, 'OIDC_TOKEN_ENCRYPTION_KEYS is required'],
    ['short key', { OIDC_TOKEN_ENCRYPTION_KEYS: 'k1:c2hvcnQ=' }, 'OIDC_TOKEN_ENCRYPTION_KEYS key "k1" must decode to 32 bytes, got 5'],
    ['key without id', { OIDC_TOKEN_ENCRYPTION_KEYS: KEY }, 'OIDC_TOKEN_ENCRYPTION_KEYS entry 1 must look like kid:base64key'],
    ['duplicate key id', { OIDC_TOKEN_ENCRYPTION_KEYS: `k1:${KEY},k1:${KEY}` }, 'OIDC_TOKEN_ENCRYPTION_KEYS key id "k1" is used twice'],
    ['non-base64 key', { OIDC_TOKEN_ENCRYPTION_KEYS: 'k1:not base64!' }, 'OIDC_TOKEN_ENCRYPTION_KEYS key "k1" is not base64'],
    ['relative post-logout uri', { OIDC_POST_LOGOUT_REDIRECT_URI: '/logged-out' }, 'OIDC_POST_LOGOUT_REDIRECT_URI must be an absolute URL'],
    ['javascript post-logout uri', { OIDC_POST_LOGOUT_REDIRECT_URI: 'javascript:alert(1)' }, 'OIDC_POST_LOGOUT_REDIRECT_URI must use https'],
    ['http post-logout uri', { OIDC_POST_LOGOUT_REDIRECT_URI: 'http://app.example.com/' }, 'OIDC_POST_LOGOUT_REDIRECT_URI must use https'],
    ['http end-session endpoint', { OIDC_END_SESSION_ENDPOINT: 'http://sso.example.com/logout' }, 'OIDC_END_SESSION_ENDPOINT must use https'],
    ['end-session with credentials', { OIDC_END_SESSION_ENDPOINT: 'https://u:p@sso.example.com/logout' }, 'OIDC_END_SESSION_ENDPOINT must not contain credentials'],
    ['bad allowed host', { OIDC_RETURN_TO_ALLOWED_HOSTS: 'https://app.example.com' }, 'OIDC_RETURN_TO_ALLOWED_HOSTS entry "https://app.example.com" must be a host name'],
    ['scopes without openid', { OIDC_SCOPES: 'profile email' }, 'OIDC_SCOPES must include "openid"'],
    ['bad database url', { DATABASE_URL: 'mysql://x' }, 'DATABASE_URL must start with postgres:// or postgresql://'],
    ['bad redis url', { REDIS_URL: 'http://x' }, 'REDIS_URL must start with redis://, rediss://, redis+sentinel:// or redis+cluster://'],
    ['bad sentinel url', { REDIS_URL: 'redis+sentinel://10.0.0.1:26379' }, 'REDIS_URL with redis+sentinel:// must end in /<masterName>'],
    ['bad cluster url', { REDIS_URL: 'redis+cluster://10.0.0.1' }, 'REDIS_URL host "10.0.0.1" must look like host:port'],
    ['unknown state store', { STATE_STORE: 'memory' }, 'STATE_STORE must be one of redis, postgres, got "memory"'],
    ['redis state store without url', { STATE_STORE: 'redis' }, 'REDIS_URL is required when STATE_STORE=redis'],
    ['bad cookie name', { SESSION_COOKIE_NAME: 'my session' }, 'SESSION_COOKIE_NAME must be 1-64 letters'],
  ])('%s → names the variable', (_case, overrides, expected) => {
    const found = problems({ ...valid, ...overrides });
    expect(found.some((p) => p.startsWith(expected)), JSON.stringify(found)).toBe(true);
  });

  it('reports every problem at once, one per variable', () => {
    const found = problems({ SESSION_TTL: '7x' });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^OIDC_ISSUER is required/),
        'OIDC_CLIENT_ID is required',
        'OIDC_CLIENT_SECRET is required',
        'OIDC_REDIRECT_URI is required',
        expect.stringMatching(/^SESSION_TTL must be a duration/),
      ]),
    );
    expect(found.filter((p) => p.startsWith('OIDC_ISSUER'))).toHaveLength(1);
  });

  it('allows http URLs only with OIDC_ALLOW_INSECURE_HTTP, and then drops the Secure cookie flag', () => {
    const config = loadAppConfig({
      ...valid,
      OIDC_ALLOW_INSECURE_HTTP: 'true',
      OIDC_ISSUER: 'http://localhost:4000',
      OIDC_REDIRECT_URI: 'http://localhost:3000/auth/oidc/callback',
      OIDC_POST_LOGOUT_REDIRECT_URI: 'http://localhost:3000/',
    });
    expect(config.oidc.cookieSecure).toBe(false);
    expect(config.oidc.sessionCookieName).toBe('session');
    expect(config.oidc.providers[0].postLogoutRedirectUri).toBe('http://localhost:3000/');
  });

  it('applies the documented defaults of the hardening settings and parses their forms', () => {
    const config = loadAppConfig(valid);
    expect(config.oidc).toMatchObject({
      allowedOrigins: [],
      sessionIdleTimeoutMs: 8 * 3_600_000,
      sessionRetentionMs: 30 * 86_400_000,
      httpTimeoutMs: 10_000,
      redisCommandTimeoutMs: 2_000,
      bindMaxTokensPerIdentity: 10,
      bindMaxAttemptsPerIp: 30,
      backchannelDirectPath: true,
    });
    expect(loadAppConfig({ ...valid, OIDC_BACKCHANNEL_DIRECT_PATH: 'false' }).oidc.backchannelDirectPath).toBe(false);
    expect(config.oidc.providers[0]).toMatchObject({ backchannelAllowMissingExp: false, backchannelMaxAgeMs: 120_000, frontchannelLogoutWithoutCookie: false });
    expect(config.database).toEqual({ statementTimeoutMs: 5_000, connectTimeoutMs: 5_000 });
    expect(config.trustProxy).toBe(false);
    const custom = loadAppConfig({
      ...valid,
      SESSION_IDLE_TIMEOUT: '0',
      OIDC_ALLOWED_ORIGINS: 'https://spa.example.com, https://Admin.Example.com:8443/',
      TRUST_PROXY: 'loopback, 10.0.0.0/8, 2001:db8::/32, 192.168.1.1',
    });
    expect(custom.oidc.sessionIdleTimeoutMs).toBe(0);
    expect(custom.oidc.allowedOrigins).toEqual(['https://spa.example.com', 'https://admin.example.com:8443']);
    expect(custom.trustProxy).toEqual(['loopback', '10.0.0.0/8', '2001:db8::/32', '192.168.1.1']);
    expect(loadAppConfig({ ...valid, TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadAppConfig({ ...valid, TRUST_PROXY: 'true' }).trustProxy).toBe(true);
  });

  it('does not require a bind page for the create and reject policies', () => {
    expect(loadAppConfig({ ...valid, OIDC_BIND_PAGE_URL: undefined, OIDC_UNLINKED_IDENTITY: 'reject' }).oidc.unlinkedIdentity).toBe('reject');
  });
});
