/**
 * Meta's Messenger Platform: Facebook Messenger (a Page) and Instagram Direct (a professional
 * account). Both types live in this one folder because they are one API with a few differences
 * (platform.ts); WhatsApp shares only the Graph basics, which are in the toolkit. Details:
 * adapters/messenger/README.md.
 */
import { defineAdapter } from '../../src/adapter.js';
import { GRAPH_WEBHOOK_BODY_LIMIT } from '../../src/toolkit/index.js';
import { MessagingAdapter } from './adapter.js';
import { INSTAGRAM, MESSENGER } from './platform.js';
import { instagramSettingsSchema, messengerSettingsSchema } from './settings.js';

export { MessagingAdapter } from './adapter.js';

const SECRETS = ['accessToken', 'appSecret', 'verifyToken'] as const;

export const messengerAdapter = defineAdapter({
  type: 'messenger',
  title: "Facebook Messenger (a Page, on Meta's Graph webhook)",
  settings: messengerSettingsSchema,
  secrets: SECRETS,
  create: (ctx) => new MessagingAdapter(ctx, MESSENGER),
  webhook: { methods: ['GET', 'POST'], bodyLimit: GRAPH_WEBHOOK_BODY_LIMIT },
});

export const instagramAdapter = defineAdapter({
  type: 'instagram',
  title: "Instagram Direct (a professional account, on Meta's Graph webhook)",
  settings: instagramSettingsSchema,
  secrets: SECRETS,
  create: (ctx) => new MessagingAdapter(ctx, INSTAGRAM),
  webhook: { methods: ['GET', 'POST'], bodyLimit: GRAPH_WEBHOOK_BODY_LIMIT },
});
