/**
 * A real bridge for the web chat and sandbox tests: sandbox mode (web chat ↔ the Custom App
 * stand-in) or explicit channels, on its own Redis key prefix, logs captured, keys removed after.
 */
import { createBridge, type Bridge, type Role } from '../../src/bridge.js';
import type { BridgeConfig, ChannelConfig } from '../../src/config/schema.js';
import { baseTestConfig, captureLogger, TEST_TUNING } from './bridge.js';
import { registerSecret } from '../../src/redact.js';
import { WebchatAdapter } from '../../adapters/webchat/adapter.js';
import { botFlowSchema, type BotFlowInput } from '../../src/flow/config.js';
import { freePort } from './net.js';
import { readyRedis, removeKeys, uniquePrefix } from './redis.js';

export const MEDIA_SECRET = 'webchat-test-media-secret-0123456789';

/** A web chat channel as BRIDGE_CONFIG has it, optionally with a bot flow (validated as the config's `bot` is). */
export function webchatChannel(o: {
  id: string;
  blingerUrl: string;
  token: string;
  adapter?: Record<string, unknown>;
  bot?: BotFlowInput;
}): ChannelConfig {
  return {
    id: o.id,
    blinger: { url: o.blingerUrl, token: o.token, timeoutMs: 2000 },
    adapter: { type: 'webchat', ...o.adapter },
    allowPrivateUrls: false,
    ...(o.bot ? { bot: botFlowSchema.parse(o.bot) } : {}),
  };
}

export interface ChatBridge {
  bridge: Bridge;
  url: string;
  prefix: string;
  logs: string[];
  /** The webchat adapter of a channel (default: the sandbox's). */
  chat(channelId?: string): WebchatAdapter;
  /** The sandbox channel's Custom App token (what the inbox page posts replies with). */
  sandboxToken(): string;
  stop(): Promise<void>;
}

export interface ChatBridgeOptions {
  /** Explicit channels; without them the bridge runs in sandbox mode. */
  channels?: ChannelConfig[];
  role?: Role;
  prefix?: string;
  /** Keep the keys: another bridge on the same prefix goes on with them. */
  keepKeys?: boolean;
  /** A Redis of the test's own (a throwaway server it stops and restarts); its keys are left alone. */
  redisUrl?: string;
}

export async function startChatBridge(o: ChatBridgeOptions = {}): Promise<ChatBridge> {
  const port = await freePort();
  const prefix = o.prefix ?? uniquePrefix();
  const config: BridgeConfig = {
    ...baseTestConfig({ port, prefix, redisUrl: o.redisUrl, mediaSecret: MEDIA_SECRET }),
    sandbox: !o.channels,
    channels: o.channels ?? [],
  };
  registerSecret(MEDIA_SECRET);
  const { logs, log } = captureLogger();
  const bridge = createBridge({
    config,
    log,
    role: o.role,
    tuning: TEST_TUNING,
  });
  const url = await bridge.start();
  return {
    bridge,
    url,
    prefix,
    logs,
    chat(channelId = 'sandbox') {
      const a = bridge.channels.get(channelId)?.adapter;
      if (!(a instanceof WebchatAdapter)) throw new Error(`no webchat channel ${channelId}`);
      return a;
    },
    sandboxToken() {
      const c = bridge.channels.get('sandbox');
      if (!c) throw new Error('not in sandbox mode');
      return c.config.blinger.token;
    },
    async stop() {
      await bridge.stop({ graceMs: 2000 });
      if (!o.keepKeys && !o.redisUrl) {
        const r = await readyRedis();
        await removeKeys(r, prefix);
        await r.quit();
      }
    },
  };
}
