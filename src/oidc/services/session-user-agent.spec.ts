import { describe, expect, it } from 'vitest';
import { storableUserAgent } from './session.service';

describe('storableUserAgent', () => {
  it('keeps a normal User-Agent as is', () => {
    const ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
    expect(storableUserAgent(ua)).toBe(ua);
  });

  it('is null when the header is absent or blank', () => {
    expect(storableUserAgent(undefined)).toBeNull();
    expect(storableUserAgent(null)).toBeNull();
    expect(storableUserAgent('   ')).toBeNull();
  });

  it('drops control and non-ASCII characters and keeps at most 512 characters', () => {
    expect(storableUserAgent('curl/8\u0000\n\u00e9')).toBe('curl/8');
    expect(storableUserAgent('x'.repeat(600))).toHaveLength(512);
    expect(storableUserAgent(['first/1', 'second/2'])).toBe('first/1');
  });
});
