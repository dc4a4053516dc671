import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['15m', 900_000],
    ['168h', 604_800_000],
    ['7d', 604_800_000],
    ['500ms', 500],
    [' 10m ', 600_000],
  ])('accepts %s', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each(['7x', '7', 'd', '', '-5m', '1.5h', '7 d', '0s', '7D', '10mins', 'Infinity', '99999999999d'])(
    'rejects %j',
    (input) => {
      expect(parseDuration(input)).toBeUndefined();
    },
  );
});
