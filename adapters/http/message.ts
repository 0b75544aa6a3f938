/**
 * What an app posts to `POST /http/:channelId/messages` (docs/architecture.md, "The HTTP channel"), validated with zod, and the
 * Custom App messages it becomes. The same schemas describe the route in the OpenAPI document.
 */
import { z } from 'zod';
import { MAX_BUTTON_DATA_BYTES, type InboundEvent, type InboundMessage } from '../../src/adapter.js';

// eslint-disable-next-line no-control-regex -- control characters are what this refuses
const CONTROL = /[\u0000-\u001f\u007f]/;

const httpUrl = z
  .string()
  .max(4096)
  .refine((v) => /^https?:\/\//i.test(v) && URL.canParse(v), 'expected an absolute http(s) URL');

export const userSchema = z.strictObject({
  id: z
    .string()
    .min(1, 'must not be empty')
    .max(256, 'at most 256 characters')
    .refine((v) => v.trim() !== '' && !CONTROL.test(v), 'expected visible characters, no control characters')
    .describe("the end-user's id in your app; it is the conversation (client_id) in Blinger"),
  name: z.string().max(256).optional().describe('shown to agents (client_name)'),
  phone: z.string().max(64).optional().describe('client_phone'),
  info: z.record(z.string(), z.unknown()).optional().describe('any facts about the user, passed on in `info`'),
});

export const inboundSchema = z
  .strictObject({
    user: userSchema,
    type: z.enum(['text', 'image', 'file']),
    text: z.string().max(65_536).optional().describe('the text; for image/file an optional caption, sent after the file'),
    url: httpUrl.optional().describe('for image/file: where the file is; passed to Blinger as given'),
    file_name: z.string().max(255).optional().describe('the file name, passed on in `info.file_name`'),
    button: z
      .strictObject({
        data: z
          .string()
          .min(1)
          .refine((v) => Buffer.byteLength(v) <= MAX_BUTTON_DATA_BYTES, `at most ${MAX_BUTTON_DATA_BYTES} bytes`),
        label: z.string().max(256).optional(),
      })
      .optional()
      .describe("the user pressed a button of a bot message (its `data`); the bridge's bot flow reacts to it"),
  })
  .superRefine((m, ctx) => {
    if (m.type === 'text' && (m.text === undefined || m.text.trim() === '') && !m.button) {
      ctx.addIssue({ code: 'custom', path: ['text'], message: 'required (non-empty) for type "text"' });
    }
    if (m.type === 'text' && m.url !== undefined)
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'only for type "image" or "file"' });
    if (m.type !== 'text' && m.url === undefined) ctx.addIssue({ code: 'custom', path: ['url'], message: `required for type "${m.type}"` });
  });

export type InboundBody = z.output<typeof inboundSchema>;

/** One line per problem, naming the field: `user.id: must not be empty; url: required for type "image"`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const where = i.path.length ? i.path.map(String).join('.') : 'body';
      if (i.code === 'unrecognized_keys')
        return `${where}: unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`;
      return `${where}: ${i.message}`;
    })
    .join('; ');
}

/** The app's `/start payload` text starts a bot flow's conversation, as on Telegram. */
function startOf(text: string | undefined): InboundEvent['start'] {
  const m = text === undefined ? null : /^\/start(?:\s+([\s\S]+))?$/.exec(text.trim());
  if (!m) return undefined;
  return m[1] ? { payload: m[1].trim() } : {};
}

export function toInbound(body: InboundBody): { messages: InboundMessage[]; event: InboundEvent } {
  const who: Omit<InboundMessage, 'type' | 'data'> = {
    client_id: body.user.id,
    ...(body.user.name ? { client_name: body.user.name } : {}),
    ...(body.user.phone ? { client_phone: body.user.phone } : {}),
  };
  const info = { ...body.user.info, ...(body.file_name ? { file_name: body.file_name } : {}) };
  const withInfo = Object.keys(info).length > 0 ? { ...who, info } : who;
  const event: InboundEvent = { chat: 'private' };
  if (body.button) {
    const label = body.button.label ?? body.text ?? body.button.data;
    event.button = { data: body.button.data, ...((body.button.label ?? body.text) ? { label } : {}) };
    return { messages: [{ ...withInfo, type: 'text', data: `[button] ${label}` }], event };
  }
  const messages: InboundMessage[] = [];
  if (body.type === 'text') messages.push({ ...withInfo, type: 'text', data: body.text! });
  else {
    messages.push({ ...withInfo, type: body.type, data: body.url! });
    if (body.text?.trim()) messages.push({ ...withInfo, type: 'text', data: body.text });
  }
  if (body.text?.trim()) event.text = body.text;
  const start = body.type === 'text' ? startOf(body.text) : undefined;
  if (start) event.start = start;
  return { messages, event };
}
