import { describe, expect, it } from 'vitest';
import { clientIpBucket } from './client-ip';

describe('clientIpBucket', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::ffff', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
    [undefined, 'unknown'],
    ['not an ip', 'not an ip'],
  ])('%s → %s', (ip, bucket) => {
    expect(clientIpBucket(ip)).toBe(bucket);
  });

  it('puts every address of one IPv6 /64 in one bucket', () => {
    expect(clientIpBucket('2001:db8:aa:bb::1')).toBe(clientIpBucket('2001:db8:aa:bb:ffff:ffff:ffff:ffff'));
    expect(clientIpBucket('2001:db8:aa:bb::1')).not.toBe(clientIpBucket('2001:db8:aa:bc::1'));
  });
});
