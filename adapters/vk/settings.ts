/** The VK adapter's part of a channel's config (environment variables or BRIDGE_CONFIG `adapter`). */
import { z } from 'zod';
import type { AdapterEnv } from '../../src/adapter.js';
import { deriveSecret } from '../../src/toolkit/index.js';

const limitSchema = z.object({ max: z.number().int().min(1), windowMs: z.number().int().min(1) });

/** `218000001`, `"218000001"`, `club218000001`, `public218000001` or `-218000001`: the community's id. */
const groupId = z.preprocess(
  (v) => (typeof v === 'string' ? v.trim().replace(/^(club|public|-)/, '') : v),
  z.coerce
    .number({ message: 'expected the community id, a positive number (community settings → "Community ID" or club<id> in its address)' })
    .int()
    .positive('expected the community id, a positive number'),
);

const fields = z.object({
  type: z.literal('vk'),
  token: z
    .string()
    .trim()
    .regex(/^\S{20,512}$/, 'expected a community access token (community → Manage → API usage → Access tokens)'),
  groupId,
  mode: z.enum(['longpoll', 'callback']).default('longpoll'),
  /** The Callback API's secret key (VK sends it in every event's `secret`); VK allows up to 50 characters. */
  secret: z
    .string()
    .regex(/^[\x21-\x7e]{1,50}$/, 'expected 1-50 printable ASCII characters, no spaces (the Callback API secret key)')
    .optional(),
  /** The string VK asks the server to answer when it confirms the address; fetched from VK when absent. */
  confirmation: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9]{1,64}$/, 'expected the confirmation string VK shows (letters and digits)')
    .optional(),
  apiRoot: z.string().url().default('https://api.vk.com/method'),
  apiVersion: z
    .string()
    .regex(/^5\.\d{1,3}$/, 'expected a VK API version such as 5.199')
    .default('5.199'),
  /** Per-request timeout of API calls and uploads' answers, in ms. */
  requestTimeout: z.number().int().min(1000).max(120_000).default(15_000),
  /**
   * Poller lease in ms: one process per community polls; if it dies, a standby takes over within
   * the lease plus a quarter of it (at most 5 s). Each long poll waits half the lease, at most 25 s.
   */
  pollLease: z.number().int().min(2000).max(120_000).default(20_000),
  /** Override the community's send limit (default: adapters/vk/limits.ts). */
  limits: z.object({ account: limitSchema.optional() }).optional(),
});

/** VK's Callback API secret key is at most 50 characters; 40 hex characters of an HMAC of the token. */
export function deriveCallbackSecret(token: string): string {
  return deriveSecret('vk-callback-secret', token).slice(0, 40);
}

/** The settings as validated: the API root without a trailing slash, the secret filled in. */
export const vkSettingsSchema = fields.transform((s) => ({
  ...s,
  apiRoot: s.apiRoot.replace(/\/+$/, ''),
  secret: s.secret ?? deriveCallbackSecret(s.token),
}));

export type VkSettings = z.output<typeof vkSettingsSchema>;

/** One VK channel from the environment (adapters/vk/README.md "Configuration"). */
export const VK_ENV: AdapterEnv = {
  enabledBy: 'VK_TOKEN',
  vars: {
    token: 'VK_TOKEN',
    groupId: 'VK_GROUP_ID',
    mode: 'VK_MODE',
    secret: 'VK_SECRET',
    confirmation: 'VK_CONFIRMATION',
    apiRoot: 'VK_API_ROOT',
    apiVersion: 'VK_API_VERSION',
  },
};

/**
 * The community events the bridge subscribes to (Long Poll settings and Callback servers alike):
 * what users write and edit, and presses of callback buttons a bot flow sent.
 */
export const VK_EVENTS = ['message_new', 'message_edit', 'message_event'] as const;
/** Events a community may have switched on that the bridge turns off for its own server/long poll. */
export const VK_UNWANTED_EVENTS = ['message_reply', 'message_typing_state'] as const;
