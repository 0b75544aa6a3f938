/**
 * A bridge with one WhatsApp, Messenger or Instagram channel against the Graph API double and a
 * Blinger double, plus a small file server for agents' attachments. Logs are captured; keys removed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChannelConfig } from '../../src/config/schema.js';
import type { BotFlowInput } from '../../src/flow/config.js';
import { registerSecret } from '../../src/redact.js';
import { startGraphDouble, type GraphDouble, type GraphDoubleOptions } from '../doubles/graph-api.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { startChatBridge, type ChatBridge } from './webchat.js';
import { startBetween, stopBetween, testChannel } from './bridge.js';

export type MetaType = 'whatsapp' | 'messenger' | 'instagram';

export const VERIFY_TOKEN = 'verify-token-0123456789';
export const META_BLINGER_TOKEN = 'meta-blinger-token-0123456789';
/** So that a future pacer never slows the tests: the double enforces limits only when asked. */
const RELAXED = { account: { max: 100_000, windowMs: 1000 }, conversation: { max: 100_000, windowMs: 1000 } };

export function metaSettings(type: MetaType, g: GraphDouble, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const common = { appSecret: g.appSecret, verifyToken: VERIFY_TOKEN, apiRoot: g.apiRoot, requestTimeout: 3000, limits: RELAXED };
  if (type === 'whatsapp') {
    const a = g.accounts.whatsapp;
    return { type, phoneNumberId: a.phoneNumberId, accessToken: a.accessToken, ...common, ...extra };
  }
  if (type === 'messenger')
    return { type, pageId: g.accounts.messenger.pageId, accessToken: g.accounts.messenger.accessToken, ...common, ...extra };
  return { type, pageId: g.accounts.instagram.accountId, accessToken: g.accounts.instagram.accessToken, ...common, ...extra };
}

export interface MetaStack {
  g: GraphDouble;
  blinger: BlingerDouble;
  tb: ChatBridge;
  channelId: string;
  /** The channel's webhook URL (what Meta's dashboard is given). */
  webhook: string;
  stop(): Promise<void>;
}

export async function startMetaStack(
  type: MetaType,
  o: { adapter?: Record<string, unknown>; bot?: BotFlowInput; double?: GraphDoubleOptions; retryMaxAgeMs?: number } = {},
): Promise<MetaStack> {
  const channelId = `${type}-support`;
  const g = await startGraphDouble({ seed: 7, ...o.double });
  const blinger = await startBlingerDouble({ token: META_BLINGER_TOKEN, channelId });
  const settings = metaSettings(type, g, o.adapter);
  for (const s of [META_BLINGER_TOKEN, g.appSecret, VERIFY_TOKEN, String(settings.accessToken)]) registerSecret(s);
  const channel = testChannel({
    id: channelId,
    blingerUrl: blinger.url,
    blingerToken: META_BLINGER_TOKEN,
    adapter: settings as ChannelConfig['adapter'],
    bot: o.bot,
  });
  const tb = await startBetween([g, blinger], () => startChatBridge({ channels: [channel] }));
  return {
    g,
    blinger,
    tb,
    channelId,
    webhook: `${tb.url}/${type}/${channelId}`,
    stop: () => stopBetween(tb, g, blinger),
  };
}

export interface FileServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `files` by path (e.g. '/photo.png'), with their Content-Type as given (or none); `chunked`
 * files are sent without a Content-Length, in pieces.
 */
export async function startFileServer(files: Record<string, { body: Buffer; type?: string; chunked?: boolean }>): Promise<FileServer> {
  const server = http.createServer((req, res) => {
    const f = files[new URL(req.url ?? '/', 'http://x').pathname];
    if (!f) return void res.writeHead(404).end('not found');
    res.writeHead(200, { ...(f.type ? { 'content-type': f.type } : {}), ...(f.chunked ? {} : { 'content-length': f.body.length }) });
    if (!f.chunked) return void res.end(f.body);
    for (let i = 0; i < f.body.length; i += 64 * 1024) res.write(f.body.subarray(i, i + 64 * 1024));
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
