/**
 * A Telegram update read once: which of its fields carries what the bridge acts on — a message
 * (and whether it is an edit) or a pressed button — so that normalize.ts, events.ts and
 * reply-route.ts each look at the same part instead of searching the update again.
 *
 * Updates arrive from the network, so this reads them as loose JSON and checks what it uses.
 */
export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Update fields that carry a message, and whether that message is an edit. */
export const MESSAGE_SOURCES: ReadonlyArray<readonly [string, boolean]> = [
  ['message', false],
  ['edited_message', true],
  ['channel_post', false],
  ['edited_channel_post', true],
  ['business_message', false],
  ['edited_business_message', true],
];

export interface ReadUpdate {
  /** -1 when the update has none. */
  updateId: number;
  /** The message it carries: its field, the message, whether it is an edit. */
  message?: { key: string; msg: Obj; edited: boolean };
  /** A pressed inline button: the callback query and the message the button was under. */
  button?: { cb: Obj; msg?: Obj };
  /** Neither: what it is instead ("my_chat_member update", "not an update object"). */
  other?: string;
}

export function readUpdate(update: unknown): ReadUpdate {
  if (!isObj(update)) return { updateId: -1, other: 'not an update object' };
  const updateId = typeof update.update_id === 'number' && Number.isFinite(update.update_id) ? update.update_id : -1;
  if (isObj(update.callback_query)) {
    const cb = update.callback_query;
    return { updateId, button: { cb, ...(isObj(cb.message) ? { msg: cb.message } : {}) } };
  }
  const source = MESSAGE_SOURCES.find(([key]) => isObj(update[key]));
  if (source) return { updateId, message: { key: source[0], msg: update[source[0]] as Obj, edited: source[1] } };
  const kind = Object.keys(update).find((k) => k !== 'update_id');
  return { updateId, other: kind ? `${kind} update` : 'empty update' };
}
