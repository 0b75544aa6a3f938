/** The WhatsApp adapter's part of a channel's config (env vars or BRIDGE_CONFIG `adapter`; DESIGN.md §10). */
import { z } from 'zod';
import type { AdapterEnv } from '../../src/adapter.js';
import { DEFAULT_GRAPH_API_VERSION } from '../../src/toolkit/index.js';

const limitSchema = z.object({ max: z.number().int().min(1), windowMs: z.number().int().min(1) });

/** Graph ids are digit strings; YAML turns unquoted ones into numbers, which are fine while exact. */
const graphId = (what: string) =>
  z.preprocess(
    (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? String(v) : v),
    z.string().regex(/^\d{5,30}$/, `expected the ${what} (digits, as Meta shows it; quote it in YAML)`),
  );

/**
 * The template that re-opens a conversation outside the 24-hour window: `name` or `name:language`
 * (e.g. `reopen_chat:de`), or `{name, language}`. It must have no variables.
 */
const templateSchema = z
  .union(
    [
      z
        .string()
        .regex(/^[a-z0-9_]{1,512}(:[A-Za-z_]{2,15})?$/, 'expected a template name like "reopen_chat" or "reopen_chat:en_US"')
        .transform((s) => {
          const [name, language] = s.split(':');
          return { name: name!, language: language ?? 'en_US' };
        }),
      z.object({
        name: z.string().regex(/^[a-z0-9_]{1,512}$/, 'expected a template name (lower-case letters, digits, _)'),
        language: z
          .string()
          .regex(/^[A-Za-z_]{2,15}$/, 'expected a language code like en_US')
          .default('en_US'),
      }),
    ],
    { error: 'expected a template name like "reopen_chat" or "reopen_chat:en_US" (lower-case letters, digits, _), or {name, language}' },
  )
  .optional();

const fields = z.object({
  type: z.literal('whatsapp'),
  /** The business phone number's id (WhatsApp Manager → API Setup), not the number itself. */
  phoneNumberId: graphId('phone number ID'),
  /** A system user's access token with whatsapp_business_messaging (and _management for `check`). */
  accessToken: z.string().regex(/^\S{20,}$/, 'expected an access token (a system user token from Meta Business Settings)'),
  /** The Meta app's secret: X-Hub-Signature-256 is checked with it. */
  appSecret: z.string().regex(/^\S{8,}$/, "expected the Meta app's secret (App settings → Basic)"),
  /** What you type as "Verify token" when you set the callback URL in the Meta app. */
  verifyToken: z.string().regex(/^[\x21-\x7e]{1,256}$/, 'expected 1-256 printable ASCII characters, no spaces'),
  apiRoot: z.string().url().default('https://graph.facebook.com'),
  apiVersion: z
    .string()
    .regex(/^v\d{1,3}\.\d{1,3}$/, 'expected a Graph API version like v26.0')
    .default(DEFAULT_GRAPH_API_VERSION),
  template: templateSchema,
  /**
   * How agents' images and files reach WhatsApp: 'upload' (the bridge downloads the file, checks
   * its type against WhatsApp's list and uploads it; errors come back at once) or 'link' (WhatsApp
   * fetches the URL itself; a failure arrives later as a failed status, which the agent is told).
   */
  mediaBy: z.enum(['upload', 'link']).default('upload'),
  /** Per Graph call, in ms (uploads get five minutes). */
  requestTimeout: z.number().int().min(1000).max(120_000).default(15_000),
  /** Override the declared send limits (defaults: limits.ts), e.g. after Meta raised the number's throughput. */
  limits: z.object({ account: limitSchema.optional(), conversation: limitSchema.optional() }).optional(),
});

export const whatsappSettingsSchema = fields.transform((s) => ({ ...s, apiRoot: s.apiRoot.replace(/\/+$/, '') }));

export type WhatsAppSettings = z.output<typeof whatsappSettingsSchema>;

/** One WhatsApp channel from the environment (adapters/whatsapp/README.md). */
export const WHATSAPP_ENV: AdapterEnv = {
  enabledBy: 'WHATSAPP_PHONE_NUMBER_ID',
  vars: {
    phoneNumberId: 'WHATSAPP_PHONE_NUMBER_ID',
    accessToken: 'WHATSAPP_ACCESS_TOKEN',
    appSecret: 'WHATSAPP_APP_SECRET',
    verifyToken: 'WHATSAPP_VERIFY_TOKEN',
    apiRoot: 'WHATSAPP_API_ROOT',
    apiVersion: 'WHATSAPP_API_VERSION',
    template: 'WHATSAPP_TEMPLATE',
    mediaBy: 'WHATSAPP_MEDIA_BY',
  },
};
