/** Validation of the agent replies Blinger POSTs to /blinger/:channelId (docs/architecture.md, "The Custom App API"). */
import { z } from 'zod';
import type { OutboundMessage } from '../message.js';

const idLike = z
  .union([z.string(), z.number()], { error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string or a number') })
  .transform(String);

export const replySchema = z
  .object({
    token: z.string().optional(),
    custom_channel_id: idLike,
    client_id: idLike.pipe(z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters')),
    type: z.enum(['text', 'image', 'file'], {
      error: (iss) => (iss.input === undefined ? 'is required' : 'must be one of text, image, file'),
    }),
    data: z.string({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string') }).min(1, 'must not be empty'),
  })
  .superRefine((b, ctx) => {
    if (b.type !== 'text' && !/^https?:\/\/[^\s]+$/i.test(b.data)) {
      ctx.addIssue({ code: 'custom', path: ['data'], message: `must be an http(s) URL for type "${b.type}"` });
    }
  });

export type AgentReply = z.infer<typeof replySchema>;

export function toOutbound(r: AgentReply): OutboundMessage {
  return { client_id: r.client_id, type: r.type, data: r.data };
}

/** One readable line per problem: "client_id: must not be empty; type: must be one of …". */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const field = i.path.map(String).join('.') || 'body';
      return `${field}: ${i.message}`;
    })
    .join('; ');
}
