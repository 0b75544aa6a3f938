/**
 * Telegram bots: updates by long polling (the default) or webhook, normalized into Custom App
 * messages; agents' replies sent back paced within Telegram's limits; files served through signed
 * links. Details: adapters/telegram/README.md.
 */
import { defineAdapter } from '../../src/adapter.js';
import { TelegramAdapter } from './adapter.js';
import { telegramCli } from './cli.js';
import { TELEGRAM_ENV, telegramSettingsSchema } from './settings.js';

export { TelegramAdapter } from './adapter.js';

export const telegramAdapter = defineAdapter({
  type: 'telegram',
  title: 'Telegram bots (Bot API: long polling or webhook)',
  settings: telegramSettingsSchema,
  secrets: ['token', 'webhookSecret'],
  env: TELEGRAM_ENV,
  create: (ctx) => new TelegramAdapter(ctx),
  cli: telegramCli,
});
