/**
 * Settings of the two Messenger Platform channel types (DESIGN.md §10): `messenger` (a Facebook
 * Page) and `instagram` (an Instagram professional account). BRIDGE_CONFIG only: a deployment
 * that runs one of these has a config file anyway, and WhatsApp owns the one-channel variables.
 */
import { z } from 'zod';
import { DEFAULT_GRAPH_API_VERSION } from '../../src/toolkit/index.js';

const limitSchema = z.object({ max: z.number().int().min(1), windowMs: z.number().int().min(1) });

/** Graph ids are digit strings; YAML turns unquoted ones into numbers, which are fine while exact. */
const graphId = (what: string) =>
  z.preprocess(
    (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? String(v) : v),
    z.string().regex(/^\d{5,30}$/, `expected the ${what} (digits, as Meta shows it; quote it in YAML)`),
  );

const common = {
  accessToken: z.string().regex(/^\S{20,}$/, 'expected an access token'),
  /** The Meta app's secret: X-Hub-Signature-256 is checked with it. */
  appSecret: z.string().regex(/^\S{8,}$/, "expected the Meta app's secret (App settings → Basic)"),
  /** What you type as "Verify token" when you set the callback URL in the Meta app. */
  verifyToken: z.string().regex(/^[\x21-\x7e]{1,256}$/, 'expected 1-256 printable ASCII characters, no spaces'),
  apiVersion: z
    .string()
    .regex(/^v\d{1,3}\.\d{1,3}$/, 'expected a Graph API version like v26.0')
    .default(DEFAULT_GRAPH_API_VERSION),
  /**
   * With Meta's Human Agent permission: an agent's reply refused because the 24-hour window has
   * closed goes again with the HUMAN_AGENT tag (allowed for 7 days after the user's last message).
   */
  humanAgent: z.boolean().default(false),
  /** The Meta app's id: echoes of messages this app sent are recognised by it too (besides their metadata). */
  appId: graphId('Meta app ID').optional(),
  /** The postback payload of the Page's "Get Started" button: a bot flow greets on it. */
  getStartedPayload: z.string().min(1).max(1000).default('GET_STARTED'),
  requestTimeout: z.number().int().min(1000).max(120_000).default(15_000),
  limits: z.object({ account: limitSchema.optional(), conversation: limitSchema.optional() }).optional(),
};

const trimRoot = <T extends { apiRoot: string }>(s: T): T => ({ ...s, apiRoot: s.apiRoot.replace(/\/+$/, '') });

export const messengerSettingsSchema = z
  .object({
    type: z.literal('messenger'),
    /** The Facebook Page's id; messages go to POST /<pageId>/messages with a Page access token. */
    pageId: graphId('Facebook Page ID'),
    apiRoot: z.string().url().default('https://graph.facebook.com'),
    ...common,
  })
  .transform(trimRoot);

export const instagramSettingsSchema = z
  .object({
    type: z.literal('instagram'),
    /**
     * Where messages are sent from: the Instagram professional account's id (Instagram API with
     * Instagram Login, graph.instagram.com, the default) — or, with Facebook Login, the id of the
     * Facebook Page linked to the account (then set apiRoot to https://graph.facebook.com and
     * accountId to the Instagram account's id).
     */
    pageId: graphId('Instagram account ID (or Facebook Page ID)'),
    /** The Instagram account's id as webhooks name it (entry.id); default pageId. */
    accountId: graphId('Instagram account ID').optional(),
    apiRoot: z.string().url().default('https://graph.instagram.com'),
    ...common,
  })
  .transform(trimRoot);

export type MessengerSettings = z.output<typeof messengerSettingsSchema>;
export type InstagramSettings = z.output<typeof instagramSettingsSchema>;
export type MessagingSettings = MessengerSettings | InstagramSettings;
