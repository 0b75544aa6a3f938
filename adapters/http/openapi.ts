/**
 * The HTTP channel's OpenAPI 3.1 document, served at GET /http/openapi.json: the route an app calls
 * and, as a webhook, what the bridge POSTs to the app. The request schema is generated from the
 * same zod schema the route validates with, so the two cannot drift.
 */
import { z } from 'zod';
import { inboundSchema } from './message.js';

const signatureHeaders = [
  {
    name: 'webhook-id',
    in: 'header',
    required: true,
    schema: { type: 'string', maxLength: 256 },
    description: 'unique message id; a repeat within 24 h is acknowledged and not delivered again',
  },
  {
    name: 'webhook-timestamp',
    in: 'header',
    required: true,
    schema: { type: 'string', pattern: '^\\d+$' },
    description: 'Unix seconds; more than 5 minutes away from now is refused',
  },
  {
    name: 'webhook-signature',
    in: 'header',
    required: true,
    schema: { type: 'string' },
    description:
      'space-separated `v1,<base64 HMAC-SHA256>` of `<webhook-id>.<webhook-timestamp>.<raw body>`, keyed with the base64 part of the whsec_ secret',
  },
];

const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const outbound = {
  type: 'object',
  required: ['type', 'channel', 'user_id', 'message'],
  properties: {
    type: { const: 'message' },
    channel: { type: 'string', description: 'the channel (Custom App) id' },
    user_id: { type: 'string', description: 'the `user.id` the app sent' },
    message: {
      type: 'object',
      required: ['type'],
      properties: {
        type: { enum: ['text', 'image', 'file'] },
        text: { type: 'string', description: 'for type text' },
        url: { type: 'string', format: 'uri', description: 'for image and file' },
        keyboard: {
          type: 'object',
          description: "bot-flow replies only: buttons to show; a press comes back as `button` in the app's next message",
        },
      },
    },
  },
};

export function openApiDocument(): Record<string, unknown> {
  const { $schema: _ignored, ...inbound } = z.toJSONSchema(inboundSchema, { target: 'draft-2020-12', io: 'input' }) as Record<
    string,
    unknown
  >;
  return {
    openapi: '3.1.0',
    info: {
      title: 'blinger-bridge HTTP channel',
      version: '1',
      description:
        "Plug an in-house app, a mobile app's backend or any messenger into Blinger's helpdesk: POST users' messages here, receive agents' replies at your deliveryUrl. Both directions are signed with Standard Webhooks (standardwebhooks.com).",
    },
    paths: {
      '/http/{channelId}/messages': {
        post: {
          summary: "A user's message, to the agents",
          parameters: [
            { name: 'channelId', in: 'path', required: true, schema: { type: 'string' }, description: 'the Custom App ID' },
            ...signatureHeaders,
          ],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/InboundMessage' } } } },
          responses: {
            200: {
              description: 'durably queued (or a repeat of a webhook-id already queued)',
              content: { 'application/json': { schema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } } },
            },
            400: error('a field is missing or wrong; the message names it'),
            401: error('missing, stale or wrong signature'),
            404: error('no HTTP channel with this id'),
            413: error('body over 1 MiB'),
            415: error('not application/json'),
            503: error('the queue is unavailable; retry later'),
          },
        },
      },
    },
    webhooks: {
      agentReply: {
        post: {
          summary:
            "An agent's reply, POSTed to the channel's deliveryUrl with the same three signature headers (webhook-id stable across retries)",
          parameters: signatureHeaders,
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/AgentReply' } } } },
          responses: {
            '2XX': { description: 'delivered to the user' },
            429: { description: 'slow down: the bridge waits Retry-After seconds, without spending an attempt' },
            410: { description: 'the user cannot be reached: the reply is dead-lettered and the agent is told' },
            '4XX': { description: 'refused: dead-lettered with your status' },
            '5XX': { description: 'failed (also timeouts and network errors): retried with backoff for up to RETRY_MAX_AGE' },
          },
        },
      },
    },
    components: {
      schemas: {
        InboundMessage: inbound,
        AgentReply: outbound,
        Error: { type: 'object', required: ['error', 'message'], properties: { error: { type: 'string' }, message: { type: 'string' } } },
      },
    },
  };
}
