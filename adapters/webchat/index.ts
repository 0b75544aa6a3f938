/**
 * The web chat: the bridge's own embeddable chat page as a messenger (see adapter.ts, routes.ts,
 * protocol.ts). It is the messenger side of the sandbox, and usable in production through
 * BRIDGE_CONFIG: `adapter: {type: webchat, title, greeting, maxUploadBytes}`.
 */
import type { AdapterDefinition } from '../../src/adapter.js';
import { WebchatAdapter } from './adapter.js';
import { registerWebchatRoutes } from './routes.js';

export { WebchatAdapter } from './adapter.js';

export const webchatAdapter: AdapterDefinition = {
  type: 'webchat',
  create: (ctx) => new WebchatAdapter(ctx),
  registerRoutes: registerWebchatRoutes,
};
