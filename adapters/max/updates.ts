/**
 * MAX updates as the bridge reads them: zod schemas for the fields it relies on, per update type.
 * Only what identifies a conversation and a message is required (a malformed update is refused
 * with its problem named); optional parts that come malformed are dropped, not fatal, so one odd
 * field never costs the user's message. Unknown update types pass as they are (MAX adds types).
 * Numbers must be safe integers: MAX's `seq` is not (it exceeds 2^53), so it is never read.
 */
import { z } from 'zod';

const id = z.int();
const optionalString = z.string().nullish().catch(undefined);

export const userSchema = z.looseObject({
  user_id: id,
  first_name: optionalString,
  last_name: optionalString,
  username: optionalString,
  name: optionalString,
  is_bot: z.boolean().nullish().catch(undefined),
});
export type MaxUser = z.output<typeof userSchema>;

const attachments = z.array(z.unknown()).nullish().catch(undefined);

export const bodySchema = z.looseObject({
  mid: z.string().min(1),
  text: optionalString,
  attachments,
});
export type MaxBody = z.output<typeof bodySchema>;

/** The body of a replied or forwarded message (its mid is not needed). */
const linkedBodySchema = z.looseObject({ mid: optionalString, text: optionalString, attachments });

const linkSchema = z.looseObject({
  type: z.string(),
  sender: userSchema.nullish().catch(undefined),
  chat_id: id.nullish().catch(undefined),
  message: linkedBodySchema.nullish().catch(undefined),
});
export type MaxLink = z.output<typeof linkSchema>;

export const messageSchema = z.looseObject({
  sender: userSchema.nullish().catch(undefined),
  recipient: z.looseObject({
    chat_id: id,
    chat_type: optionalString,
    user_id: id.nullish().catch(undefined),
  }),
  timestamp: z.number().nullish().catch(undefined),
  body: bodySchema,
  link: linkSchema.nullish().catch(undefined),
});
export type MaxMessage = z.output<typeof messageSchema>;

const base = { update_type: z.string(), timestamp: z.number(), user_locale: optionalString };

const messageUpdate = z.looseObject({ ...base, message: messageSchema });
const callbackUpdate = z.looseObject({
  ...base,
  callback: z.looseObject({
    callback_id: z.string().min(1),
    payload: optionalString,
    user: userSchema,
    timestamp: z.number().nullish().catch(undefined),
  }),
  // null when the message with the button was deleted.
  message: messageSchema.nullish(),
});
const botStartedUpdate = z.looseObject({ ...base, chat_id: id, user: userSchema, payload: optionalString });
const titleUpdate = z.looseObject({ ...base, chat_id: id, title: z.string() });

export const UPDATE_SCHEMAS = {
  message_created: messageUpdate,
  message_edited: messageUpdate,
  message_callback: callbackUpdate,
  bot_started: botStartedUpdate,
  chat_title_changed: titleUpdate,
} as const;

export type MessageUpdate = z.output<typeof messageUpdate>;
export type CallbackUpdate = z.output<typeof callbackUpdate>;
export type BotStartedUpdate = z.output<typeof botStartedUpdate>;
export type TitleUpdate = z.output<typeof titleUpdate>;

/** An update the bridge understood: one of the typed ones, or another type it passes over. */
export type ParsedUpdate =
  | ({ update_type: 'message_created' | 'message_edited' } & MessageUpdate)
  | ({ update_type: 'message_callback' } & CallbackUpdate)
  | ({ update_type: 'bot_started' } & BotStartedUpdate)
  | ({ update_type: 'chat_title_changed' } & TitleUpdate)
  | { update_type: string; timestamp: number; other: true };

const envelope = z.looseObject({ update_type: z.string().min(1).max(64), timestamp: z.number() });

/** The update, or what is wrong with it (for a 400 naming the problem, or a skip when polled). */
export function parseUpdate(raw: unknown): { update: ParsedUpdate } | { problem: string } {
  const head = envelope.safeParse(raw);
  if (!head.success) return { problem: describe(head.error, 'expected a MAX Update object with update_type and timestamp') };
  const type = head.data.update_type;
  const schema = UPDATE_SCHEMAS[type as keyof typeof UPDATE_SCHEMAS] as z.ZodType | undefined;
  if (!schema) return { update: { update_type: type, timestamp: head.data.timestamp, other: true } };
  const parsed = schema.safeParse(raw);
  if (!parsed.success) return { problem: `${type}: ${describe(parsed.error)}` };
  return { update: parsed.data as ParsedUpdate };
}

/** The first issue as `path: message`, short enough for a 400 body and a log line. */
function describe(error: z.ZodError, fallback?: string): string {
  const issue = error.issues[0];
  if (!issue) return fallback ?? 'invalid update';
  const path = issue.path.map(String).join('.');
  if (path === '' && fallback) return fallback;
  return `${path || 'update'}: ${issue.message}`.slice(0, 300);
}
