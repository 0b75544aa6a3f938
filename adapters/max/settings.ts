/** The MAX adapter's part of a channel's config (env vars or BRIDGE_CONFIG `adapter`). */
import { z } from 'zod';
import type { AdapterEnv, SendLimits } from '../../src/adapter.js';
import { deriveSecret } from '../../src/toolkit/index.js';

const limitSchema = z.object({ max: z.number().int().min(1), windowMs: z.number().int().min(1) });

const fields = z.object({
  type: z.literal('max'),
  // MAX does not document the token's format; it goes into a header, so no whitespace.
  token: z.string().regex(/^[\x21-\x7e]{16,512}$/, 'expected the bot token from business.max.ru or @MasterBot (no spaces)'),
  mode: z.enum(['polling', 'webhook']).default('polling'),
  webhookSecret: z
    .string()
    .regex(/^[A-Za-z0-9_-]{5,256}$/, 'expected 5-256 characters of A-Z, a-z, 0-9, _ and - (MAX refuses other secrets)')
    .optional(),
  apiRoot: z.string().trim().url().default('https://platform-api2.max.ru'),
  /** Long-polling wait in seconds (MAX allows up to 90). */
  pollTimeout: z.number().int().min(0).max(90).default(30),
  /** Per-request timeout of the other Bot API calls, in ms. */
  requestTimeout: z.number().int().min(1000).max(120_000).default(15_000),
  /** Polling leader lease in ms (one process per bot polls; see the toolkit's LeasedPoller). */
  pollLease: z.number().int().min(2000).max(120_000).default(20_000),
  /**
   * Webhook mode: how often each process checks that MAX still has the subscription (MAX drops it
   * after 8 hours of failed deliveries) and subscribes again when it is gone, in ms; 0 = never.
   */
  subscriptionCheck: z.number().int().min(0).max(86_400_000).default(600_000),
  /** Overrides of MAX's send limits (adapters/max/limits.ts), e.g. for a bot with raised limits. */
  limits: z
    .object({
      account: limitSchema.optional(),
      conversation: limitSchema.optional(),
      group: limitSchema.optional(),
    })
    .optional(),
});

/** Default webhook secret: an HMAC of the bot token (64 hex characters, within MAX's pattern). */
export function deriveWebhookSecret(botToken: string): string {
  return deriveSecret('max-webhook-secret', botToken);
}

/** The settings as validated: the API root without a trailing slash, the webhook secret filled in. */
export const maxSettingsSchema = fields.transform((s) => ({
  ...s,
  apiRoot: s.apiRoot.replace(/\/+$/, ''),
  webhookSecret: s.webhookSecret ?? deriveWebhookSecret(s.token),
}));

export type MaxSettings = z.output<typeof maxSettingsSchema>;

/** One MAX channel from the environment (adapters/max/README.md). */
export const MAX_ENV: AdapterEnv = {
  enabledBy: 'MAX_BOT_TOKEN',
  vars: { token: 'MAX_BOT_TOKEN', mode: 'MAX_MODE', webhookSecret: 'MAX_WEBHOOK_SECRET', apiRoot: 'MAX_API_ROOT' },
};

/**
 * The update kinds the bridge asks MAX for (subscription and long poll): the ones with something
 * for an agent or a bot flow, and chat renames (they name group conversations).
 */
export const UPDATE_TYPES = ['message_created', 'message_edited', 'message_callback', 'bot_started', 'chat_title_changed'] as const;

/** MAX's published limits, unless the settings override them (limits.ts explains the numbers). */
export function sendLimits(s: MaxSettings, defaults: Required<SendLimits>): Required<SendLimits> {
  return {
    account: s.limits?.account ?? defaults.account,
    conversation: s.limits?.conversation ?? defaults.conversation,
    group: s.limits?.group ?? defaults.group,
  };
}
