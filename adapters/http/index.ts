/**
 * The HTTP channel: any app plugs in with two signed HTTP calls (docs/architecture.md, "The HTTP channel"). Details:
 * adapters/http/README.md; the OpenAPI document is served at GET /http/openapi.json.
 */
import { defineAdapter } from '../../src/adapter.js';
import { HttpChannelAdapter } from './adapter.js';
import { httpCli } from './cli.js';
import { openApiDocument } from './openapi.js';
import { HTTP_ENV, httpSettingsSchema } from './settings.js';

export const httpAdapter = defineAdapter({
  type: 'http',
  title: 'the HTTP channel: your own app, a mobile backend or any messenger, signed both ways',
  settings: httpSettingsSchema,
  secrets: ['secret'],
  env: HTTP_ENV,
  create: (ctx) => new HttpChannelAdapter(ctx),
  webhook: { methods: ['POST'], subpaths: ['messages'] },
  registerRoutes(app) {
    const doc = JSON.stringify(openApiDocument());
    app.get('/http/openapi.json', async (_req, reply) =>
      reply.type('application/json; charset=utf-8').header('cache-control', 'public, max-age=300').send(doc),
    );
  },
  cli: httpCli,
});
