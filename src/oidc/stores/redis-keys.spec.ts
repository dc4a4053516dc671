import { describe, expect, it } from 'vitest';
import { redisKeys, slotPart, vaultOwner } from './redis-keys';

describe('redisKeys hash tags', () => {
  it('puts every token kind of one owner in one slot, and different owners apart', () => {
    const owner = vaultOwner.session('7f0c1a52-4a8e-4c1e-9f51-0b6a4c7d2e11');
    const keys = (['id_token', 'refresh_token', 'access_token'] as const).map((kind) => redisKeys.vault(owner, kind));
    expect(keys[0]).toBe('oidc:vault:{session:7f0c1a52-4a8e-4c1e-9f51-0b6a4c7d2e11}:id_token');
    expect(new Set(keys.map(slotPart))).toEqual(new Set(['session:7f0c1a52-4a8e-4c1e-9f51-0b6a4c7d2e11']));
    expect(slotPart(redisKeys.vault(vaultOwner.bind('ab12'), 'id_token'))).toBe('bind:ab12');
    expect(slotPart(redisKeys.vault(vaultOwner.session('other'), 'id_token'))).not.toBe(slotPart(keys[0]));
  });

  it('refuses an owner with braces, which would move its keys to another slot', () => {
    expect(() => redisKeys.vault('session:a}b', 'id_token')).toThrow(RangeError);
    expect(() => redisKeys.vault('session:{x}', 'id_token')).toThrow(RangeError);
  });
});

describe('slotPart (Redis Cluster rule)', () => {
  it.each([
    ['oidc:bind:abc', 'oidc:bind:abc'],
    ['oidc:vault:{session:1}:id_token', 'session:1'],
    ['a{}b{c}', 'a{}b{c}'],
    ['a{b', 'a{b'],
    ['a{b}{c}', 'b'],
    ['a}b{c}', 'c'],
  ])('%s → %s', (key, part) => {
    expect(slotPart(key)).toBe(part);
  });
});
