/**
 * A real bridge with one VK channel between the VK API double and the Blinger double, on its own
 * Redis prefix (what test/helpers/bridge.ts does for Telegram), plus a small file server for the
 * agents' attachments.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBridge, type Bridge } from '../../src/bridge.js';
import type { ChannelConfig } from '../../src/config/schema.js';
import { registerSecret } from '../../src/redact.js';
import { botFlowSchema, type BotFlowInput } from '../../src/flow/config.js';
import type { Middleware } from '../../src/flow/middleware.js';
import { channelSettings } from '../../src/adapters.js';
import { vkAdapter } from '../../adapters/vk/index.js';
import { startVkDouble, type VkDouble, type VkDoubleOptions } from '../doubles/vk-api.js';
import { startBlingerDouble, type BlingerDouble } from '../doubles/blinger.js';
import { baseTestConfig, BLINGER_TOKEN, captureLogger, MEDIA_SECRET, TEST_TUNING } from './bridge.js';
import { freePort } from './net.js';
import { readyRedis, removeKeys, uniquePrefix } from './redis.js';

export const VK_CHANNEL = 'vk-support';

export interface VkBridge {
  bridge: Bridge;
  url: string;
  prefix: string;
  logs: string[];
  stop(): Promise<void>;
}

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
  const raw = {
    type: 'vk',
    token: vk.community.token,
    groupId: vk.community.id,
    apiRoot: vk.apiRoot,
    pollLease: 4000,
    requestTimeout: 3000,
    ...adapter,
  };
  const channel: ChannelConfig = {
    id: VK_CHANNEL,
    blinger: { url: blingerUrl, token: BLINGER_TOKEN, timeoutMs: 2000 },
    adapter: raw as ChannelConfig['adapter'],
    allowPrivateUrls: true,
    ...(bot ? { bot: botFlowSchema.parse(bot) } : {}),
  };
  return { ...channel, adapter: channelSettings(vkAdapter, channel) as ChannelConfig['adapter'] };
}

export async function startVkBridge(o: VkBridgeOptions): Promise<VkBridge> {
  const port = await freePort();
  const prefix = o.prefix ?? uniquePrefix();
  const config = {
    ...baseTestConfig({ port, prefix }),
    retryMaxAgeMs: o.retryMaxAgeMs ?? 60_000,
    channels: [vkChannel(o.vk, o.blingerUrl, o.adapter, o.bot)],
  };
  for (const s of [o.vk.community.token, BLINGER_TOKEN, MEDIA_SECRET]) registerSecret(s);
  const { logs, log } = captureLogger();
  const bridge = createBridge({
    config,
    log,
    ...(o.middleware ? { middleware: o.middleware } : {}),
    tuning: { ...TEST_TUNING, ...(o.now ? { now: o.now } : {}) },
  });
  const url = await bridge.start();
  return {
    bridge,
    url,
    prefix,
    logs,
    async stop() {
      await bridge.stop();
      if (!o.keepKeys) {
        const r = await readyRedis();
        await removeKeys(r, prefix);
        await r.quit();
      }
    },
  };
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
  try {
    return { vk, blinger, tb: await startVkBridge({ ...rest, vk, blingerUrl: blinger.url }) };
  } catch (err) {
    await vk.close();
    await blinger.close();
    throw err;
  }
}

export async function stopVkStack(s: Partial<VkStack>): Promise<void> {
  await s.tb?.stop();
  await s.vk?.close();
  await s.blinger?.close();
}

/** Serves fixed files on 127.0.0.1 (agents' attachments), counting requests. */
export interface FileServer {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

export async function startFileServer(files: Record<string, { type: string; bytes: Buffer }>): Promise<FileServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const file = files[(req.url ?? '').split('?')[0]!];
    if (!file) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'content-length': file.bytes.length }).end(file.bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A 2x1 PNG (the double sniffs real image headers). */
export const PNG_2X1 = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAYAAAD0In+KAAAAEUlEQVR42mNk+M9QzwAEjDAGACCDAv8cI7IoAAAAAElFTkSuQmCC',
  'base64',
);
