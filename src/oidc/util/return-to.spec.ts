import { describe, expect, it } from 'vitest';
import { validateReturnTo } from './return-to';

const rules = { allowedHosts: ['app.example.com', 'localhost:5173'], allowHttp: false };

describe('validateReturnTo', () => {
  it.each([
    [undefined, '/'],
    ['', '/'],
    ['/', '/'],
    ['/dashboard', '/dashboard'],
    ['/a/b?x=1&y=%2F#frag', '/a/b?x=1&y=%2F#frag'],
    ['/search?q=//not-a-host', '/search?q=//not-a-host'],
    ['https://app.example.com/home', 'https://app.example.com/home'],
    ['https://APP.example.com/x', 'https://app.example.com/x'],
  ])('accepts %j', (input, expected) => {
    expect(validateReturnTo(input, rules)).toBe(expected);
  });

  it.each([
    '//evil.com',
    '///evil.com',
    '/\\evil.com',
    '\\\\evil.com',
    '\\/evil.com',
    '/%2F%2Fevil.com',
    '%2F%2Fevil.com',
    '/%5Cevil.com',
    '/%5C%5Cevil.com',
    '/\tevil.com',
    '/\t/evil.com',
    '/\n/evil.com',
    '/%09/evil.com',
    '/%0d%0aSet-Cookie:x=y',
    '/\u2028/evil.com',
    '/%E2%80%A8/evil.com',
    '/.//evil.com',
    '/%',
    'evil.com',
    'dashboard',
    'https://evil.com/',
    'https://app.example.com.evil.com/',
    'https://evil.com\\@app.example.com/',
    'https://app.example.com@evil.com/',
    'https://user:pw@app.example.com/',
    'http://app.example.com/',
    'https:app.example.com/x',
    'https:/app.example.com/x',
    'https://app.example.com:8443/',
    'javascript:alert(1)',
    'JAVASCRIPT:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'ftp://app.example.com/',
    `/${'a'.repeat(2048)}`,
  ])('rejects %j', (input) => {
    expect(validateReturnTo(input, rules)).toBeUndefined();
  });

  it('allows http hosts only with the insecure flag', () => {
    expect(validateReturnTo('http://localhost:5173/cb', rules)).toBeUndefined();
    expect(validateReturnTo('http://localhost:5173/cb', { ...rules, allowHttp: true })).toBe('http://localhost:5173/cb');
  });
});
