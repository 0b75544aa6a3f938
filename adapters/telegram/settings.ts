/** The Telegram adapter's part of a channel's config (env vars or BRIDGE_CONFIG `adapter`). */
import { z } from 'zod';
import type { AdapterEnv } from '../../src/adapter.js';
import { deriveSecret } from '../../src/toolkit/index.js';

const limitSchema = z.object({ max: z.number().int().min(1), windowMs: z.number().int().min(1) });

const fields = z.object({
  type: z.literal('telegram'),
  token: z.string().regex(/^\d+:[A-Za-z0-9_-]{20,}$/, 'expected a bot token like 123456:ABC-DEF… from @BotFather'),
  mode: z.enum(['polling', 'webhook']).default('polling'),
  webhookSecret: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,256}$/, 'expected 1-256 characters of A-Z, a-z, 0-9, _ and -')
    .optional(),
  apiRoot: z.string().url().default('https://api.telegram.org'),
  /** Long-polling timeout in seconds (Telegram allows up to 50). */
  pollTimeout: z.number().int().min(0).max(50).default(30),
  /** Per-request timeout for Bot API calls other than long polling, in ms. */
  requestTimeout: z.number().int().min(1000).max(120_000).default(15_000),
  /**
   * Polling leader lease in ms: one process per bot polls; if it dies, another takes over within
   * the lease plus a quarter of it (at most 5 s) — 25 s with the default.
   */
  pollLease: z.number().int().min(2000).max(120_000).default(20_000),
  /**
   * Override Telegram's send limits (each "at most max sends per windowMs"), e.g. for a local
   * Bot API server or a bot with raised limits. Defaults: adapters/telegram/limits.ts.
   */
  limits: z
    .object({
      bot: limitSchema.optional(),
      privateChat: limitSchema.optional(),
      group: limitSchema.optional(),
    })
    .optional(),
});

/**
 * Default webhook secret: an HMAC of the bot token, so every process of a deployment derives the
 * same value without one more variable to share, and the token itself is never sent back.
 */
export function deriveWebhookSecret(botToken: string): string {
  return deriveSecret('telegram-webhook-secret', botToken);
}

/** The settings as validated: the API root without a trailing slash, the webhook secret filled in. */
export const telegramSettingsSchema = fields.transform((s) => ({
  ...s,
  apiRoot: s.apiRoot.replace(/\/+$/, ''),
  webhookSecret: s.webhookSecret ?? deriveWebhookSecret(s.token),
}));

export type TelegramSettings = z.output<typeof telegramSettingsSchema>;

export function parseTelegramSettings(raw: Record<string, unknown>): TelegramSettings {
  return telegramSettingsSchema.parse(raw);
}

/** One Telegram channel from the environment (README "Configuration"). */
export const TELEGRAM_ENV: AdapterEnv = {
  enabledBy: 'TELEGRAM_BOT_TOKEN',
  vars: { token: 'TELEGRAM_BOT_TOKEN', mode: 'TELEGRAM_MODE', webhookSecret: 'TELEGRAM_WEBHOOK_SECRET', apiRoot: 'TELEGRAM_API_ROOT' },
};

/**
 * The update kinds the bridge asks for: the ones that can carry something for an agent (business
 * chats included: Telegram sends business_message only to bots that list it), and presses of the
 * inline buttons a bot flow (or an older bot on the same token) sent.
 */
export const ALLOWED_UPDATES = [
  'message',
  'edited_message',
  'channel_post',
  'edited_channel_post',
  'business_message',
  'edited_business_message',
  'callback_query',
] as const;
