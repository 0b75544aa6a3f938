/**
 * Which network a visitor writes from, for the per-address quotas: the connection's address, or
 * the one a trusted reverse proxy put in a header (settings `clientIpHeader`). An IPv6 address
 * counts by its /64 (one subscriber's network: a script there has 2^64 addresses to rotate).
 */
import { isIPv4, isIPv6 } from 'node:net';

/** The address the quotas count for this request. */
export function clientAddress(headers: Record<string, string | string[] | undefined>, socketIp: string, header?: string): string {
  if (!header) return addressKey(socketIp);
  const raw = headers[header];
  const value = Array.isArray(raw) ? raw.join(',') : raw;
  // X-Forwarded-For lists every hop; the last one was added by your proxy, the rest by anyone.
  const last = value
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .pop();
  return addressKey(last && (isIPv4(stripPort(last)) || isIPv6(unbracket(last))) ? last : socketIp);
}

/** IPv4 as is (an IPv4-mapped IPv6 address too), IPv6 as its /64 prefix. */
export function addressKey(ip: string): string {
  const host = unbracket(stripPort(ip));
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped) return mapped[1]!;
  if (isIPv4(host)) return host;
  if (!isIPv6(host)) return host.slice(0, 64);
  return `${expandIPv6(host).slice(0, 4).join(':')}::/64`;
}

function stripPort(s: string): string {
  // "1.2.3.4:5678" (IPv4 with a port); IPv6 keeps its colons.
  return /^\d+\.\d+\.\d+\.\d+:\d+$/.test(s) ? s.slice(0, s.lastIndexOf(':')) : s;
}

function unbracket(s: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  return m ? m[1]! : s;
}

/** The eight groups of an IPv6 address, lower case, without leading zeros. */
function expandIPv6(ip: string): string[] {
  let s = ip.toLowerCase().replace(/%.*$/, '');
  // A trailing dotted IPv4 is the last two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    s = s.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((g) => (parseInt(g, 16) || 0).toString(16));
}
