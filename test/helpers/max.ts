/**
 * A real bridge with one MAX channel between the MAX Bot API double and the Blinger Custom App
 * double, on its own Redis key prefix, logs captured, keys removed after.
 */
import type { ChannelConfig } from '../../src/config/schema.js';
import type { BotFlowInput } from '../../src/flow/config.js';
import { MaxAdapter } from '../../adapters/max/adapter.js';
import { deriveWebhookSecret } from '../../adapters/max/settings.js';
import { DEFAULT_MAX_BOT, startMaxDouble, type MaxDouble, type MaxDoubleOptions } from '../doubles/max-api.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { launchTestBridge, MEDIA_SECRET, startBetween, stopBetween, testChannel, type TestBridge } from './bridge.js';

export const MAX_CHANNEL = 'max-support';
export const MAX_BLINGER_TOKEN = 'max-blinger-token-0123456789';
export const MAX_TOKEN = DEFAULT_MAX_BOT.token;
export const MAX_SECRET = deriveWebhookSecret(MAX_TOKEN);

export interface MaxBridgeOptions {
  mode?: 'polling' | 'webhook';
  /** More adapter settings (limits, timeouts…). */
  adapter?: Record<string, unknown>;
  bot?: BotFlowInput;
  /** The bot flow's clock. */
  now?: () => number;
  prefix?: string;
  keepKeys?: boolean;
  retryMaxAgeMs?: number;
}

export function maxChannel(o: { apiRoot: string; blingerUrl: string } & Pick<MaxBridgeOptions, 'mode' | 'adapter' | 'bot'>): ChannelConfig {
  return testChannel({
    id: MAX_CHANNEL,
    blingerUrl: o.blingerUrl,
    blingerToken: MAX_BLINGER_TOKEN,
    adapter: {
      type: 'max',
      token: MAX_TOKEN,
      mode: o.mode ?? 'polling',
      apiRoot: o.apiRoot,
      pollTimeout: 1,
      requestTimeout: 3000,
      ...o.adapter,
    },
    bot: o.bot,
  });
}

export interface MaxBridge extends TestBridge {
  adapter: MaxAdapter;
}

export async function startMaxBridge(apiRoot: string, blingerUrl: string, o: MaxBridgeOptions = {}): Promise<MaxBridge> {
  const tb = await launchTestBridge({
    config: { retryMaxAgeMs: o.retryMaxAgeMs ?? 60_000, channels: [maxChannel({ apiRoot, blingerUrl, ...o })] },
    secrets: [MAX_TOKEN, MAX_BLINGER_TOKEN, MEDIA_SECRET],
    prefix: o.prefix,
    now: o.now,
    keepKeys: o.keepKeys,
  });
  const adapter = tb.bridge.channels.get(MAX_CHANNEL)?.adapter;
  if (!(adapter instanceof MaxAdapter)) throw new Error('the MAX channel has no MaxAdapter');
  return { ...tb, adapter };
}

/** Both doubles and a bridge between them. The MAX double takes http webhooks (the bridge listens on loopback). */
export interface MaxStack {
  max: MaxDouble;
  blinger: BlingerDouble;
  tb: MaxBridge;
}

export async function startMaxStack(o: MaxBridgeOptions & { double?: MaxDoubleOptions } = {}): Promise<MaxStack> {
  const { double, ...bridge } = o;
  const max = await startMaxDouble({ allowHttpWebhooks: true, ...double });
  const blinger = await startBlingerDouble({ token: MAX_BLINGER_TOKEN, channelId: MAX_CHANNEL });
  const tb = await startBetween([max, blinger], () => startMaxBridge(max.apiRoot, blinger.url, bridge));
  return { max, blinger, tb };
}

export function stopMaxStack(s: Partial<MaxStack>): Promise<void> {
  return stopBetween(s.tb, s.max, s.blinger);
}
