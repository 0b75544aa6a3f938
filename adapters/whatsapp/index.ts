/**
 * WhatsApp Cloud API (Meta's own hosting of a business number): messages arrive on Meta's Graph
 * webhook, agents' replies go out through the Cloud API, media reach Blinger through signed
 * links. Details: adapters/whatsapp/README.md.
 */
import { defineAdapter } from '../../src/adapter.js';
import { GRAPH_WEBHOOK_BODY_LIMIT } from '../../src/toolkit/index.js';
import { WhatsAppAdapter } from './adapter.js';
import { WHATSAPP_ENV, whatsappSettingsSchema } from './settings.js';

export { WhatsAppAdapter } from './adapter.js';

export const whatsappAdapter = defineAdapter({
  type: 'whatsapp',
  title: "WhatsApp Cloud API (a business phone number on Meta's Graph webhook)",
  settings: whatsappSettingsSchema,
  secrets: ['accessToken', 'appSecret', 'verifyToken'],
  env: WHATSAPP_ENV,
  create: (ctx) => new WhatsAppAdapter(ctx),
  webhook: { methods: ['GET', 'POST'], bodyLimit: GRAPH_WEBHOOK_BODY_LIMIT },
});
