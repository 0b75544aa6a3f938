/**
 * What differs between the two products of Meta's Messenger Platform: the webhook object, the
 * text limit, how the 24-hour window refusal is spelled, and the names. Everything else (webhook
 * events, Send API, quick replies) is the same (docs/vendors/meta.md §4).
 */
import { splitText } from '../../src/toolkit/index.js';

export interface Platform {
  type: 'messenger' | 'instagram';
  /** For people: "Messenger" / "Instagram". */
  name: string;
  /** The webhook's `object`. */
  object: 'page' | 'instagram';
  /** An agent's text as the parts to send, in order (deterministic: a retry resumes by index). */
  split(text: string): string[];
  /** The `error_subcode` of "sent outside of allowed window". */
  windowSubcode: number;
  /** Dedupe and correlation id prefix. */
  prefix: string;
}

/** Messenger counts 2000 characters per text. */
export const MESSENGER: Platform = {
  type: 'messenger',
  name: 'Messenger',
  object: 'page',
  split: (text) => splitText(text, 2000),
  windowSubcode: 2018278,
  prefix: 'fb',
};

const INSTAGRAM_TEXT_BYTES = 1000;

/**
 * Instagram counts 1000 bytes of UTF-8. Parts of up to 1000 UTF-16 units are cut again at 333
 * units when they hold more than 1000 bytes (no unit takes more than 3 bytes: a surrogate pair is
 * 4 bytes for 2 units), so every part fits, and the same text always gives the same parts.
 */
export function splitUtf8(text: string, maxBytes = INSTAGRAM_TEXT_BYTES): string[] {
  return splitText(text, maxBytes).flatMap((part) =>
    Buffer.byteLength(part) <= maxBytes ? [part] : splitText(part, Math.floor(maxBytes / 3)),
  );
}

export const INSTAGRAM: Platform = {
  type: 'instagram',
  name: 'Instagram',
  object: 'instagram',
  split: (text) => splitUtf8(text),
  windowSubcode: 2534022,
  prefix: 'ig',
};
