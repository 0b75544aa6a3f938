/**
 * VK communities: messages by Bots Long Poll (the default) or the Callback API, normalized into
 * Custom App messages; agents' replies and bot answers sent with messages.send within the
 * community's limit; users' files served through signed links. Details: adapters/vk/README.md.
 */
import { defineAdapter } from '../../src/adapter.js';
import { VkAdapter } from './adapter.js';
import { vkCli } from './cli.js';
import { VK_ENV, vkSettingsSchema } from './settings.js';

export { VkAdapter } from './adapter.js';

export const vkAdapter = defineAdapter({
  type: 'vk',
  title: 'VK communities (Bots Long Poll or Callback API)',
  settings: vkSettingsSchema,
  secrets: ['token', 'secret'],
  env: VK_ENV,
  create: (ctx) => new VkAdapter(ctx),
  cli: vkCli,
});
