/**
 * IPv6 addresses that carry an IPv4 address inside them, and reach that IPv4 host through a
 * translator or tunnel: a download to one of them is a download to the embedded IPv4 address, so
 * it must pass the IPv4 rules too. node:net's BlockList only decodes IPv4-mapped addresses
 * (::ffff:a.b.c.d); the transition ranges below it treats as plain IPv6.
 *
 *   ::ffff:0:0/96      IPv4-mapped (RFC 4291)               a.b.c.d in the last 32 bits
 *   ::ffff:0:0:0/96    IPv4-translated (SIIT, RFC 2765)     a.b.c.d in the last 32 bits
 *   64:ff9b::/96       NAT64 well-known prefix (RFC 6052)   a.b.c.d in the last 32 bits
 *   2002::/16          6to4 (RFC 3056)                      a.b.c.d in bits 16-47
 *   2001::/32          Teredo (RFC 4380)                    server in bits 32-63, client XOR-ed in the last 32 bits
 *
 * IPv4-compatible addresses (::a.b.c.d, deprecated) and the local-use NAT64 prefix 64:ff9b:1::/48
 * (RFC 8215, where each network picks where the IPv4 address sits) are refused whole by the
 * caller's list, so they need no decoding here.
 */
import net from 'node:net';

/** The eight 16-bit groups of an IPv6 literal (zone id ignored), or undefined if it is not one. */
export function ipv6Groups(address: string): number[] | undefined {
  const bare = address.split('%')[0]!;
  if (!net.isIPv6(bare)) return undefined;
  let text = bare.toLowerCase();
  // A trailing dotted quad is two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  const left = parse(head);
  if (tail === undefined) return left;
  const right = parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function dotted(high: number, low: number): string {
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/** The IPv4 addresses an IPv6 literal leads to through translation or tunnelling (none for most). */
export function embeddedIPv4(address: string): string[] {
  const g = ipv6Groups(address);
  if (!g) return [];
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && g[5] === 0xffff) return [dotted(g[6]!, g[7]!)];
  if (zeros(0, 4) && g[4] === 0xffff && g[5] === 0) return [dotted(g[6]!, g[7]!)];
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return [dotted(g[6]!, g[7]!)];
  if (g[0] === 0x2002) return [dotted(g[1]!, g[2]!)];
  if (g[0] === 0x2001 && g[1] === 0) return [dotted(g[2]!, g[3]!), dotted(g[6]! ^ 0xffff, g[7]! ^ 0xffff)];
  return [];
}
