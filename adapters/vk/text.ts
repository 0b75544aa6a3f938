/**
 * Strings from VK's API answers (long poll events, user names) made well-formed before they go
 * anywhere: a lone UTF-16 surrogate, which a JSON escape such as "\ud83d" can carry, becomes U+FFFD
 * (Redis' Lua JSON decoder and Blinger refuse it). Webhook bodies get the same from the core's
 * JSON parser.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

/** A parsed JSON value with every string (keys too) well-formed. */
export function wellFormedDeep(value: unknown): unknown {
  if (typeof value === 'string') return wellFormed(value);
  if (Array.isArray(value)) return value.map(wellFormedDeep);
  if (typeof value !== 'object' || value === null) return value;
  // fromEntries defines own properties: a "__proto__" key stays a key, never a prototype.
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [wellFormed(k), wellFormedDeep(v)]));
}

/** The first `max` characters on one line, never cutting a character in two (code points). */
export function clip(text: string, max: number): string {
  const chars = Array.from(text.replace(/\s+/g, ' ').trim());
  return chars.length > max ? `${chars.slice(0, max).join('')}…` : chars.join('');
}
