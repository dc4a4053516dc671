import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { callerOf } from './request-context';

describe('callerOf', () => {
  it('reads the IP and the user agent (at most 200 characters) once, when first asked', () => {
    let resolved = 0;
    const req = { headers: { 'user-agent': 'a'.repeat(300) } } as unknown as IncomingMessage;
    const caller = callerOf(req, () => (resolved++, '192.0.2.1'));
    expect(resolved).toBe(0);
    expect([caller.clientIp, caller.clientIp]).toEqual(['192.0.2.1', '192.0.2.1']);
    expect(resolved).toBe(1);
    expect(caller.userAgent).toHaveLength(200);
  });

  it('serializes without the request (a host may log what @AccessToken() hands its pipe)', () => {
    const req = { headers: {} } as IncomingMessage & { self?: unknown };
    req.self = req;
    expect(JSON.stringify({ caller: callerOf(req, () => '192.0.2.1') })).toBe('{"caller":{}}');
  });
});
