/**
 * The web chat: the bridge's own embeddable chat page as a messenger (see adapter.ts, routes.ts,
 * protocol.ts). It is the messenger side of the sandbox, and usable in production through
 * BRIDGE_CONFIG: `adapter: {type: webchat, title, greeting, maxUploadBytes}`.
 */
import { defineAdapter } from '../../src/adapter.js';
import { WebchatAdapter } from './adapter.js';
import { registerWebchatRoutes } from './routes.js';
import { webchatSettingsSchema } from './settings.js';

export { WebchatAdapter } from './adapter.js';

export const webchatAdapter = defineAdapter({
  type: 'webchat',
  title: "the bridge's own web chat (a page and an embeddable launcher)",
  settings: webchatSettingsSchema,
  create: (ctx) => new WebchatAdapter(ctx),
  registerRoutes: registerWebchatRoutes,
});
