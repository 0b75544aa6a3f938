/**
 * MAX messenger bots (VK's national messenger): updates by long polling (the default) or webhook,
 * normalized into Custom App messages; agents' replies, files and bot-flow keyboards sent back
 * within MAX's declared limits; users' files served through signed links. Details:
 * adapters/max/README.md.
 */
import { defineAdapter } from '../../src/adapter.js';
import { MaxAdapter } from './adapter.js';
import { maxCli } from './cli.js';
import { MAX_ENV, maxSettingsSchema } from './settings.js';

export { MaxAdapter } from './adapter.js';

export const maxAdapter = defineAdapter({
  type: 'max',
  title: 'MAX messenger bots (Bot API: long polling or webhook)',
  settings: maxSettingsSchema,
  secrets: ['token', 'webhookSecret'],
  env: MAX_ENV,
  create: (ctx) => new MaxAdapter(ctx),
  cli: maxCli,
});
