/**
 * A bridge with one WhatsApp, Messenger or Instagram channel against the Graph API double and a
 * Blinger double. Logs are captured; keys removed.
 */
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
  o: { adapter?: Record<string, unknown>; bot?: BotFlowInput; double?: GraphDoubleOptions } = {},
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
