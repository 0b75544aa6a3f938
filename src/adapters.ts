/** The adapter registry: one line per messenger (docs/architecture.md "Adding a messenger"). */
import type { AdapterDefinition, AdapterSettings } from './adapter.js';
import type { ChannelConfig } from './config/schema.js';
import { httpAdapter } from '../adapters/http/index.js';
import { telegramAdapter } from '../adapters/telegram/index.js';
import { webchatAdapter } from '../adapters/webchat/index.js';
import { whatsappAdapter } from '../adapters/whatsapp/index.js';
import { instagramAdapter, messengerAdapter } from '../adapters/messenger/index.js';
import { vkAdapter } from '../adapters/vk/index.js';
import { maxAdapter } from '../adapters/max/index.js';

export const builtInAdapters: readonly AdapterDefinition[] = [
  telegramAdapter,
  webchatAdapter,
  httpAdapter,
  maxAdapter,
  vkAdapter,
  whatsappAdapter,
  messengerAdapter,
  instagramAdapter,
];

/** The channel's adapter settings through its type's schema (config loading did it once already). */
export function channelSettings(def: AdapterDefinition, channel: ChannelConfig): AdapterSettings {
  const parsed = def.settings.safeParse(channel.adapter);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `adapter${i.path.length ? `.${i.path.map(String).join('.')}` : ''}: ${i.message}`);
  throw new Error(`channel ${channel.id} (${def.type}): ${lines.join('; ')}`);
}
