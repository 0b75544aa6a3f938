/**
 * Who may use a web chat: the page origins of its `allowedOrigins`, and the address its quotas
 * count (a reverse proxy's header when `clientIpHeader` is set).
 */
import { clientAddress } from './client-ip.js';
import type { WebchatAdapter } from './adapter.js';

export interface RequestFacts {
  headers: Record<string, string | string[] | undefined>;
  /** The connection's own address. */
  ip: string;
}

/**
 * Undefined when the request may go on, else why not. Allowed: no allow-list; no Origin header
 * (native apps send none); the bridge's own origin (its chat page, on PUBLIC_URL or on the host
 * the request was sent to); an origin of the list.
 */
export function originRefusal(chat: WebchatAdapter, headers: RequestFacts['headers']): string | undefined {
  const allowed = chat.settings.allowedOrigins;
  const origin = headers.origin;
  if (!allowed || typeof origin !== 'string' || origin === '' || origin === 'null') return undefined;
  if (allowed.includes(origin) || origin === new URL(chat.publicUrl).origin) return undefined;
  try {
    if (new URL(origin).host === headers.host) return undefined;
  } catch {
    /* not a URL: refused below */
  }
  return `this chat is not available to pages of ${origin.slice(0, 200)} (the channel's allowedOrigins)`;
}

/** The `frame-ancestors` of the chat page: any page, or the allowed ones. */
export function frameAncestors(chat: WebchatAdapter): string {
  const allowed = chat.settings.allowedOrigins;
  return allowed ? `'self' ${allowed.join(' ')}` : '*';
}

const warned = new WeakSet<WebchatAdapter>();

/** The address the per-address quotas count for this request. */
export function addressOf(chat: WebchatAdapter, req: RequestFacts): string {
  const header = chat.settings.clientIpHeader;
  if (!header && req.headers['x-forwarded-for'] !== undefined && !warned.has(chat)) {
    warned.add(chat);
    chat.log.warn(
      'web chat requests come through a proxy (X-Forwarded-For), but the channel has no clientIpHeader: the per-address quotas count the proxy, for every visitor together. Set adapter.clientIpHeader (e.g. X-Forwarded-For).',
    );
  }
  return clientAddress(req.headers, req.ip, header);
}
