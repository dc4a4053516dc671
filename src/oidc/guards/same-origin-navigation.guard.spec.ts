import type { ExecutionContext } from '@nestjs/common';
import { describe, expect, it, vi } from 'vitest';
import type { OidcError } from '../errors/oidc-error';
import type { OidcAudit } from '../observability/audit.service';
import type { OidcModuleOptions } from '../oidc.options';
import { SameOriginNavigationGuard } from './same-origin-navigation.guard';

const options = { providers: [{ redirectUri: 'https://app.example.com/auth/oidc/callback' }] } as OidcModuleOptions;

function run(headers: Record<string, string>): number | 'allowed' {
  const audit = { record: vi.fn() } as unknown as OidcAudit;
  const guard = new SameOriginNavigationGuard(options, audit);
  const context = {
    switchToHttp: () => ({ getRequest: () => ({ headers: { ...headers, 'user-agent': 'Browser/1.0' }, ip: '203.0.113.9' }) }),
    getClass: () => ({ name: 'LoginController' }),
    getHandler: () => ({ name: 'link' }),
  } as unknown as ExecutionContext;
  try {
    guard.canActivate(context);
    return 'allowed';
  } catch (error) {
    expect((error as OidcError).code).toBe('csrf_rejected');
    // The audit line names the caller of this request.
    expect(audit.record).toHaveBeenCalledWith(
      expect.objectContaining({ event: 'csrf_refused', route: 'LoginController.link' }),
      expect.objectContaining({ clientIp: '203.0.113.9', userAgent: 'Browser/1.0' }),
    );
    return (error as OidcError).getStatus();
  }
}

describe('SameOriginNavigationGuard', () => {
  it.each([['cross-site'], ['same-site'], ['Cross-Site']])('Sec-Fetch-Site: %s is refused', (site) => {
    expect(run({ 'sec-fetch-site': site })).toBe(403);
  });

  it('a foreign or opaque Origin is refused, even with Sec-Fetch-Site: same-origin', () => {
    expect(run({ origin: 'https://evil.example' })).toBe(403);
    expect(run({ origin: 'null' })).toBe(403);
    expect(run({ origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' })).toBe(403);
  });

  it('same-origin, a typed address (none), the app\'s own Origin and clients without either header pass', () => {
    expect(run({ 'sec-fetch-site': 'same-origin' })).toBe('allowed');
    expect(run({ 'sec-fetch-site': 'none' })).toBe('allowed');
    expect(run({ origin: 'https://app.example.com', 'sec-fetch-site': 'same-origin' })).toBe('allowed');
    expect(run({})).toBe('allowed');
  });
});
