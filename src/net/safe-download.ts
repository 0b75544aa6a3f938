/**
 * Downloads a file named by an untrusted URL (an agent's attachment) without letting that URL reach
 * the bridge's own network: loopback, private, link-local, CGNAT, unspecified, multicast and
 * reserved addresses are refused unless `allowPrivate` (sandbox, tests), and so are IPv6 addresses
 * that lead to such an IPv4 address through a translator or tunnel (NAT64, 6to4, Teredo, mapped).
 *
 * The address check happens where the socket connects — a custom `lookup` on the http/https agent —
 * so a name that resolves to a public address when "checked" and a private one when used (DNS
 * rebinding) cannot slip through. Literal IP hosts never go through `lookup`, so they are checked
 * up front. Redirects are followed by hand (at most 3), each hop checked again the same way.
 * Environment proxies are ignored on purpose (`proxy: false`): through a proxy, the address check
 * would see the proxy's address instead of the target's.
 *
 * Errors: `DownloadRefused` for policy refusals (bad URL or scheme, internal address, too big, too
 * many redirects) — retrying cannot help, so callers treat them as permanent; `DownloadFailed` for
 * everything else (network, timeout, HTTP status), with `status` set for HTTP answers. Messages
 * name at most the URL's scheme and host — never its path, query or credentials, which may carry
 * signed tokens.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { pipeline, Transform, type Readable } from 'node:stream';
import axios, { type AxiosResponse } from 'axios';
import { redact } from '../redact.js';
import { embeddedIPv4 } from './embedded-ipv4.js';
import { truncate } from '../text.js';

export type DownloadRefusedCode = 'bad_url' | 'scheme' | 'private_address' | 'too_large' | 'too_many_redirects';

/** A download refused by policy: permanent, retrying gives the same answer. */
export class DownloadRefused extends Error {
  readonly code: DownloadRefusedCode;

  constructor(message: string, code: DownloadRefusedCode) {
    super(redact(message));
    this.name = 'DownloadRefused';
    this.code = code;
  }
}

/** A download that failed for another reason: network, timeout, or a non-2xx answer (`status`). */
export class DownloadFailed extends Error {
  readonly code: string;
  readonly status: number | undefined;

  constructor(message: string, code: string, status?: number) {
    super(redact(message));
    this.name = 'DownloadFailed';
    this.code = code;
    this.status = status;
  }
}

export interface DownloadOptions {
  /** The most bytes the body may have; more is refused up front (Content-Length) or mid-stream. */
  maxBytes: number;
  /** Allow loopback/private/link-local/... addresses (sandbox and tests only). */
  allowPrivate: boolean;
  /**
   * Bounds the wait for each hop's response headers, and then the time the body may go without
   * delivering a byte (an idle timeout, not a total one: a big file on a slow link is fine as long
   * as it keeps moving). The body must be consumed: a stream nobody reads goes idle too.
   */
  timeoutMs: number;
  /**
   * The address policy when `allowPrivate` is false; defaults to `isBlockedAddress`. A seam for
   * tests, which can only listen on loopback: they block one loopback address and allow another.
   */
  blockAddress?: (ip: string) => boolean;
}

export interface Download {
  /** The body. Errors with DownloadRefused('too_large') past maxBytes, DownloadFailed('timeout') when idle. */
  stream: Readable;
  /** The Content-Type header as sent (parameters included), if any. */
  contentType?: string;
  /** From Content-Disposition (filename*= before filename=), else the URL path's last segment, decoded. */
  fileName?: string;
  /** From Content-Length, when the server sent a valid one. */
  size?: number;
}

export const MAX_REDIRECTS = 3;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Addresses a download must not reach unless allowPrivate. */
const blocked = (() => {
  const list = new net.BlockList();
  const v4: Array<[string, number]> = [
    ['0.0.0.0', 8], // "this network", incl. the unspecified address
    ['10.0.0.0', 8], // RFC 1918
    ['100.64.0.0', 10], // CGNAT (RFC 6598)
    ['127.0.0.0', 8], // loopback
    ['169.254.0.0', 16], // link-local (cloud metadata endpoints live here)
    ['172.16.0.0', 12], // RFC 1918
    ['192.0.0.0', 24], // IETF protocol assignments
    ['192.0.2.0', 24], // documentation (TEST-NET-1)
    ['192.88.99.0', 24], // deprecated 6to4 relay anycast
    ['192.168.0.0', 16], // RFC 1918
    ['198.18.0.0', 15], // benchmarking
    ['198.51.100.0', 24], // documentation (TEST-NET-2)
    ['203.0.113.0', 24], // documentation (TEST-NET-3)
    ['224.0.0.0', 4], // multicast
    ['240.0.0.0', 4], // reserved, incl. broadcast 255.255.255.255
  ];
  for (const [prefix, bits] of v4) list.addSubnet(prefix, bits, 'ipv4');
  const v6: Array<[string, number]> = [
    ['::', 96], // unspecified (::), loopback (::1) and deprecated IPv4-compatible addresses (::a.b.c.d)
    ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215): each network places the IPv4 part where it likes
    ['100::', 64], // discard-only (RFC 6666)
    ['2001:db8::', 32], // documentation
    ['fc00::', 7], // unique local
    ['fe80::', 10], // link-local
    ['fec0::', 10], // deprecated site-local
    ['ff00::', 8], // multicast
  ];
  for (const [prefix, bits] of v6) list.addSubnet(prefix, bits, 'ipv6');
  return list;
})();

/**
 * Whether `address` (an IP literal) is one a download must not reach. Non-IPs count as blocked.
 * An IPv6 address that leads to an IPv4 host (NAT64, 6to4, Teredo, mapped: see embedded-ipv4.ts)
 * is refused when that IPv4 address is.
 */
export function isBlockedAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family !== 6) return true;
  return blocked.check(address, 'ipv6') || embeddedIPv4(address).some((v4) => blocked.check(v4, 'ipv4'));
}

function where(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

function parseTarget(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DownloadRefused('Refusing to download: not a valid absolute URL', 'bad_url');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DownloadRefused(
      `Refusing to download from a "${url.protocol.replace(/:$/, '')}:" URL: only http and https are allowed`,
      'scheme',
    );
  }
  return url;
}

function checkLiteralHost(url: URL, opts: DownloadOptions): void {
  if (opts.allowPrivate) return;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (net.isIP(host) && (opts.blockAddress ?? isBlockedAddress)(host)) {
    throw new DownloadRefused(
      `Refusing to download from ${where(url)}: a loopback, private or otherwise internal address`,
      'private_address',
    );
  }
}

/**
 * A `lookup` for net.connect that resolves as usual and then keeps only allowed addresses; when
 * none is left, the connection fails with DownloadRefused (also reported through `onRefused`,
 * because the HTTP client wraps the error).
 */
function guardedLookup(isBlocked: (ip: string) => boolean, onRefused: (err: DownloadRefused) => void): net.LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) {
        callback(err, '', 0);
        return;
      }
      const allowed = addresses.filter((a) => !isBlocked(a.address));
      const first = allowed[0];
      if (!first) {
        const refused = new DownloadRefused(
          `Refusing to download from ${hostname}: it resolves only to loopback, private or otherwise internal addresses`,
          'private_address',
        );
        onRefused(refused);
        callback(refused as NodeJS.ErrnoException, '', 0);
        return;
      }
      if (options.all) callback(null, allowed);
      else callback(null, first.address, first.family);
    });
  };
}

function headerValue(headers: AxiosResponse['headers'], name: string): string | undefined {
  const v: unknown = headers[name];
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  if (typeof v === 'number') return String(v);
  return undefined;
}

/** One GET without following redirects; resolves once headers arrived. */
async function fetchOnce(url: URL, opts: DownloadOptions): Promise<AxiosResponse<Readable>> {
  let refused: DownloadRefused | undefined;
  const agentOptions: http.AgentOptions = opts.allowPrivate
    ? {}
    : { lookup: guardedLookup(opts.blockAddress ?? isBlockedAddress, (e) => (refused = e)) };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs);
  try {
    return await axios.request<Readable>({
      url: url.href,
      method: 'GET',
      adapter: 'http', // the fetch adapter would bypass our agents
      responseType: 'stream',
      maxRedirects: 0,
      proxy: false,
      decompress: false,
      validateStatus: () => true,
      headers: { 'Accept-Encoding': 'identity', 'User-Agent': 'blinger-bridge' },
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent(agentOptions),
      signal: controller.signal,
    });
  } catch (err) {
    if (refused) throw refused;
    if (controller.signal.aborted) {
      throw new DownloadFailed(`Download from ${where(url)} timed out after ${opts.timeoutMs} ms`, 'timeout');
    }
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof DownloadRefused) throw cause;
    const code = (err as { code?: unknown }).code;
    const detail = typeof code === 'string' && code ? code : 'network error';
    throw new DownloadFailed(`Download from ${where(url)} failed: ${detail}`, 'network');
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Opens `url` for streaming under the policy described at the top of this file. Resolves once the
 * final response's headers are in; the body then flows through `stream`.
 */
export async function openDownload(url: string, opts: DownloadOptions): Promise<Download> {
  const original = parseTarget(url);
  let current = original;
  for (let redirects = 0; ; redirects++) {
    checkLiteralHost(current, opts);
    const res = await fetchOnce(current, opts);
    const body = res.data;

    if (REDIRECT_STATUSES.has(res.status)) {
      body.destroy();
      const location = headerValue(res.headers, 'location');
      if (!location) {
        throw new DownloadFailed(
          `Download from ${where(current)} failed: HTTP ${res.status} without a Location`,
          `http_${res.status}`,
          res.status,
        );
      }
      if (redirects >= MAX_REDIRECTS) {
        throw new DownloadRefused(
          `Refusing to download from ${where(original)}: more than ${MAX_REDIRECTS} redirects`,
          'too_many_redirects',
        );
      }
      let next: string;
      try {
        next = new URL(location, current).href;
      } catch {
        throw new DownloadFailed(`Download from ${where(current)} failed: invalid redirect Location`, 'bad_redirect');
      }
      current = parseTarget(next);
      continue;
    }

    if (res.status < 200 || res.status > 299) {
      body.destroy();
      throw new DownloadFailed(`Download from ${where(current)} failed: HTTP ${res.status}`, `http_${res.status}`, res.status);
    }

    const lengthHeader = headerValue(res.headers, 'content-length');
    const length = lengthHeader !== undefined && /^\d+$/.test(lengthHeader.trim()) ? Number(lengthHeader.trim()) : undefined;
    if (length !== undefined && length > opts.maxBytes) {
      body.destroy();
      throw new DownloadRefused(
        `Refusing to download from ${where(current)}: ${length} bytes is over the ${opts.maxBytes}-byte limit`,
        'too_large',
      );
    }

    const result: Download = { stream: capped(body, current, opts) };
    const contentType = headerValue(res.headers, 'content-type')?.trim();
    if (contentType) result.contentType = contentType;
    const fileName =
      fileNameFromDisposition(headerValue(res.headers, 'content-disposition')) ?? fileNameFromUrl(current) ?? fileNameFromUrl(original);
    if (fileName) result.fileName = fileName;
    if (length !== undefined) result.size = length;
    return result;
  }
}

/** The body, errored once it goes past maxBytes or stays idle for timeoutMs. */
function capped(source: Readable, url: URL, opts: DownloadOptions): Readable {
  let seen = 0;
  let idle: NodeJS.Timeout | undefined;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > opts.maxBytes) {
        callback(
          new DownloadRefused(`Refusing to download from ${where(url)}: the body went over the ${opts.maxBytes}-byte limit`, 'too_large'),
        );
        return;
      }
      armIdle();
      callback(null, chunk);
    },
  });
  const armIdle = (): void => {
    if (idle) clearTimeout(idle);
    idle = setTimeout(() => {
      out.destroy(new DownloadFailed(`Download from ${where(url)} stalled: no data for ${opts.timeoutMs} ms`, 'timeout'));
    }, opts.timeoutMs);
    idle.unref();
  };
  armIdle();
  pipeline(source, out, () => {
    if (idle) clearTimeout(idle);
  });
  return out;
}

/** Keeps a file name harmless: no directories, control characters or quotes; bounded length. */
export function sanitizeFileName(name: string): string | undefined {
  let base = name.split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  base = base.replace(/[\u0000-\u001f\u007f"]/g, '').trim();
  if (base === '' || base === '.' || base === '..') return undefined;
  if (base.length > 200) {
    const dot = base.lastIndexOf('.');
    const ext = dot > 0 && base.length - dot <= 16 ? base.slice(dot) : '';
    base = truncate(base, 200 - ext.length) + ext;
  }
  return base;
}

function percentDecode(value: string, charset: string): string | undefined {
  try {
    if (charset === 'utf-8' || charset === 'utf8' || charset === '') return decodeURIComponent(value);
    if (charset === 'iso-8859-1' || charset === 'latin1') {
      return value.replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** The file name of a Content-Disposition header: RFC 6266 `filename*=` (RFC 8187) first, then `filename=`. */
export function fileNameFromDisposition(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const extended = /(?:^|;)\s*filename\*\s*=\s*("?)([^';"]*)'[^']*'([^;"\s]*)\1/i.exec(header);
  if (extended) {
    const decoded = percentDecode(extended[3] ?? '', (extended[2] ?? '').toLowerCase());
    const safe = decoded === undefined ? undefined : sanitizeFileName(decoded);
    if (safe) return safe;
  }
  const plain = /(?:^|;)\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/i.exec(header);
  if (plain) {
    const value = plain[1] !== undefined ? plain[1].replace(/\\(.)/g, '$1') : (plain[2] ?? '').trim();
    return sanitizeFileName(value);
  }
  return undefined;
}

/** The last segment of the URL's path, percent-decoded, if there is one. */
export function fileNameFromUrl(url: URL): string | undefined {
  const segment = url.pathname.split('/').pop() ?? '';
  if (!segment) return undefined;
  let decoded = segment;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    // keep it as it is
  }
  return sanitizeFileName(decoded);
}
