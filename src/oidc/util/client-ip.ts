import ipaddr from 'ipaddr.js';

/**
 * The unit that per-IP limits count: an IPv4 address, or the /64 of an IPv6 address (one subscriber
 * usually gets a whole /64, so counting single IPv6 addresses would give an attacker 2^64 buckets).
 * IPv4-mapped IPv6 addresses count as their IPv4 address.
 */
export function clientIpBucket(ip: string | undefined): string {
  if (!ip) return 'unknown';
  try {
    const address = ipaddr.process(ip);
    if (address.kind() === 'ipv6') return `${address.toNormalizedString().split(':').slice(0, 4).join(':')}::/64`;
    return address.toString();
  } catch {
    return ip;
  }
}
