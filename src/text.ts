/**
 * Text as it enters the bridge. Every string from outside is made well-formed: a lone UTF-16
 * surrogate (half of an emoji, e.g. from a JSON escape "\ud83d" or a cut by code unit) becomes
 * U+FFFD, the replacement character. Left alone it breaks Redis' Lua JSON decoder (cjson), and
 * strict JSON decoders elsewhere (PHP's, for one) refuse it too. And every cut to a length ends
 * between two characters.
 *
 * No imports from the rest of the bridge: adapters use this through the toolkit.
 */

/** What a lone surrogate becomes. */
export const REPLACEMENT_CHARACTER = '\uFFFD';

/** The string with every lone surrogate replaced by U+FFFD (the same string when there is none). */
export function wellFormed(text: string): string {
  return text.isWellFormed() ? text : text.toWellFormed();
}

/**
 * A JSON value (objects, arrays, strings; keys too) with every string well-formed. Returns the
 * value itself when nothing needs repair: the usual case only reads, it allocates nothing.
 */
export function wellFormedDeep<T>(value: T): T {
  return isWellFormedDeep(value) ? value : (repair(value) as T);
}

/** A JSON object, not a Buffer, Date or class instance (those are left alone). */
function isJsonObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function isWellFormedDeep(value: unknown): boolean {
  if (typeof value === 'string') return value.isWellFormed();
  if (typeof value !== 'object' || value === null) return true;
  if (Array.isArray(value)) return value.every(isWellFormedDeep);
  if (!isJsonObject(value)) return true;
  for (const key in value) if (!key.isWellFormed() || !isWellFormedDeep(value[key])) return false;
  return true;
}

function repair(value: unknown): unknown {
  if (typeof value === 'string') return wellFormed(value);
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(repair);
  if (!isJsonObject(value)) return value;
  // fromEntries defines own properties: a "__proto__" key stays a key, never a prototype.
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [wellFormed(k), repair(v)]));
}

/**
 * In JSON text, a lone surrogate can only come as an escape (a decoder turns bad UTF-8 bytes into
 * U+FFFD already); pairs come as escapes too, so a match only means "look closer".
 */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/**
 * JSON.parse, with every string of the result well-formed; the check costs one scan of the text.
 * Throws SyntaxError as JSON.parse does, and RangeError for a value nested thousands of levels deep.
 */
export function parseJsonWellFormed(text: string): unknown {
  const value: unknown = JSON.parse(text);
  return SURROGATE_ESCAPE.test(text) ? wellFormedDeep(value) : value;
}

/**
 * JSON.stringify whose output has no lone surrogate (JSON.stringify writes one as "\udXXX", which
 * Lua's cjson cannot decode). Only a text containing "\ud" is looked at again.
 */
export function stringifyWellFormed(value: unknown): string {
  const json = JSON.stringify(value);
  return json.includes('\\ud') ? JSON.stringify(wellFormedDeep(value)) : json;
}

/**
 * `text` cut to at most `max` UTF-16 code units (JavaScript's length), never inside a surrogate
 * pair and, where the cluster is short, not inside a grapheme cluster (flags, skin tones, ZWJ
 * emoji, combining marks) either. With an `ellipsis`, it ends the cut text and counts in `max`.
 */
export function truncate(text: string, max: number, ellipsis = ''): string {
  if (text.length <= max) return text;
  const room = max - ellipsis.length;
  if (room <= 0) return '';
  return text.slice(0, cutPoint(text, 0, room)) + ellipsis;
}

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** How far back from the limit to look for a grapheme boundary; longer clusters are cut. */
const GRAPHEME_LOOKBACK = 64;

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/**
 * Where to end a piece of `text` that starts at `pos` and may reach up to `limit` (exclusive):
 * `limit`, or a little before it so that no surrogate pair and, when possible, no grapheme cluster
 * is cut. The result is > pos whenever limit - pos >= 2.
 */
export function cutPoint(text: string, pos: number, limit: number): number {
  let cut = limit;
  if (isHighSurrogate(text.charCodeAt(cut - 1)) && isLowSurrogate(text.charCodeAt(cut))) cut--;
  // Back off to the last grapheme boundary at or before the cut, looking only at a small window
  // around it (cheap), and only when that still leaves a non-empty piece.
  const from = Math.max(pos, cut - GRAPHEME_LOOKBACK);
  const to = Math.min(text.length, cut + GRAPHEME_LOOKBACK);
  let best = -1;
  for (const { index } of segmenter.segment(text.slice(from, to))) {
    const at = from + index;
    if (at > cut) break;
    best = at;
  }
  // `best === from` with from > pos means the cluster may start before the window: keep the cut.
  if (best > pos && (best > from || from === pos)) cut = best;
  return cut;
}
