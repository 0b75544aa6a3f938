/**
 * The messenger-neutral message: what the Custom App API carries (docs/architecture.md, "The Custom App API"), minus the
 * per-channel credentials that the Blinger client adds at send time.
 */
export type MessageType = 'text' | 'image' | 'file';

/** End-user → Blinger. Adapters produce these; the inbound queue carries them. */
export interface InboundMessage {
  client_id: string;
  client_name?: string;
  client_phone?: string;
  info?: Record<string, unknown>;
  type: MessageType;
  /** The text, or an https URL of the image/file (a signed /media link for messenger files). */
  data: string;
  echo?: boolean;
  echo_outgoing?: boolean;
}

/** Blinger (agent) → end-user. The outbound queue carries these; adapters send them. */
export interface OutboundMessage {
  client_id: string;
  type: MessageType;
  data: string;
  /** Bot replies only (src/flow/): buttons or a keyboard to show with a text. Agents' replies have none. */
  keyboard?: ReplyKeyboard;
}

/** The most bytes (UTF-8) of a button's data: Telegram's callback_data limit, the smallest of the messengers. */
export const MAX_BUTTON_DATA_BYTES = 64;

/** A button under a bot reply; pressing it comes back as an InboundEvent `button` with its `data`. */
export interface ReplyButton {
  label: string;
  /** At most MAX_BUTTON_DATA_BYTES (UTF-8). */
  data: string;
}

/**
 * What a bot reply shows besides its text. Adapters render what their messenger has (Telegram:
 * inline keyboard, request_contact keyboard) and ignore the rest; one of the three per reply.
 */
export interface ReplyKeyboard {
  /** Rows of buttons. */
  buttons?: ReplyButton[][];
  /** A one-tap "share my phone number" button with this label (private chats). */
  requestPhone?: string;
  /** Hide a keyboard shown earlier (after the phone was shared). */
  remove?: boolean;
}

/**
 * What the end-user did, as far as a bot flow needs to know beyond the messages themselves.
 * Adapters fill in what their messenger tells them; every field is optional.
 */
export interface InboundEvent {
  /** The user (re)started the conversation — Telegram's /start — with the deep-link payload. */
  start?: { payload?: string };
  /** The user pressed a button the bot sent: its data and, when known, its label. */
  button?: { data: string; label?: string };
  /** The user shared their own phone number (international form). */
  phone?: string;
  /** The messages are an edit of an earlier message. */
  edit?: boolean;
  /** What the user typed (text or caption), without the decorations added for agents. */
  text?: string;
  /** The kind of conversation; absent = one-to-one. */
  chat?: 'private' | 'group' | 'channel';
}
