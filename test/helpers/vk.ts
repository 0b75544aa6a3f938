/**
 * A real bridge with one VK channel between the VK API double and the Blinger double, on its own
 * Redis prefix (what test/helpers/bridge.ts does for Telegram).
 */
import type { ChannelConfig } from '../../src/config/schema.js';
import type { BotFlowInput } from '../../src/flow/config.js';
import type { Middleware } from '../../src/flow/middleware.js';
import { channelSettings } from '../../src/adapters.js';
import { vkAdapter } from '../../adapters/vk/index.js';
import { startVkDouble, type VkDouble, type VkDoubleOptions } from '../doubles/vk-api.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { BLINGER_TOKEN, launchTestBridge, MEDIA_SECRET, startBetween, stopBetween, testChannel, type TestBridge } from './bridge.js';

export const VK_CHANNEL = 'vk-support';

export type VkBridge = TestBridge;

export interface VkBridgeOptions {
  vk: VkDouble;
  blingerUrl: string;
  /** Extra `adapter` settings (mode, secret, confirmation, limits…). */
  adapter?: Record<string, unknown>;
  prefix?: string;
  /** Keep the Redis keys (another bridge goes on with them). */
  keepKeys?: boolean;
  bot?: BotFlowInput;
  middleware?: Middleware[];
  now?: () => number;
  retryMaxAgeMs?: number;
}

/** The channel's `adapter` section as validated, pointing at the double. */
export function vkChannel(vk: VkDouble, blingerUrl: string, adapter: Record<string, unknown> = {}, bot?: BotFlowInput): ChannelConfig {
  const channel = testChannel({
    id: VK_CHANNEL,
    blingerUrl,
    blingerToken: BLINGER_TOKEN,
    adapter: {
      type: 'vk',
      token: vk.community.token,
      groupId: vk.community.id,
      apiRoot: vk.apiRoot,
      pollLease: 4000,
      requestTimeout: 3000,
      ...adapter,
    },
    bot,
  });
  return { ...channel, adapter: channelSettings(vkAdapter, channel) as ChannelConfig['adapter'] };
}

export function startVkBridge(o: VkBridgeOptions): Promise<VkBridge> {
  return launchTestBridge({
    config: { retryMaxAgeMs: o.retryMaxAgeMs ?? 60_000, channels: [vkChannel(o.vk, o.blingerUrl, o.adapter, o.bot)] },
    secrets: [o.vk.community.token, BLINGER_TOKEN, MEDIA_SECRET],
    prefix: o.prefix,
    middleware: o.middleware,
    now: o.now,
    keepKeys: o.keepKeys,
  });
}

export interface VkStack {
  vk: VkDouble;
  blinger: BlingerDouble;
  tb: VkBridge;
}

/** Fresh VK and Blinger doubles with a bridge between them. */
export async function startVkStack(o: Omit<VkBridgeOptions, 'vk' | 'blingerUrl'> & { double?: VkDoubleOptions } = {}): Promise<VkStack> {
  const { double, ...rest } = o;
  const vk = await startVkDouble({
    users: [
      { id: 100001, first_name: 'Alice', last_name: 'Smith' },
      { id: 100002, first_name: 'Boris', last_name: 'Petrov' },
    ],
    ...double,
  });
  const blinger = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: VK_CHANNEL });
  const tb = await startBetween([vk, blinger], () => startVkBridge({ ...rest, vk, blingerUrl: blinger.url }));
  return { vk, blinger, tb };
}

export function stopVkStack(s: Partial<VkStack>): Promise<void> {
  return stopBetween(s.tb, s.vk, s.blinger);
}

/** A 2x1 PNG (the double sniffs real image headers). */
export const PNG_2X1 = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAYAAAD0In+KAAAAEUlEQVR42mNk+M9QzwAEjDAGACCDAv8cI7IoAAAAAElFTkSuQmCC',
  'base64',
);
