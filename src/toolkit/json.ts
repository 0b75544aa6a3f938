/**
 * JSON from the outside world, made safe to keep: a lone UTF-16 surrogate (`"\ud800"` in the JSON
 * text) becomes U+FFFD. Such strings are valid JavaScript but not Unicode; Redis' Lua cjson refuses
 * their escapes, so one of them in a queued message would stall its conversation for good.
 * Webhook bodies go through this in the core's JSON parser; adapters use it for polled answers.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/** Raw UTF-8 cannot carry a lone surrogate: only a \uD800–\uDFFF escape can. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/** The string with every lone surrogate replaced by U+FFFD (String.prototype.toWellFormed). */
export function wellFormed(s: string): string {
  return s.replace(LONE_SURROGATE, '\uFFFD');
}

/** JSON.parse, with every string (keys included) well-formed; the reviver runs only when needed. */
export function parseJson(text: string): unknown {
  if (!SURROGATE_ESCAPE.test(text)) return JSON.parse(text);
  return JSON.parse(text, (_key, value: unknown) => {
    if (typeof value === 'string') return wellFormed(value);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
    const keys = Object.keys(value);
    if (!keys.some((k) => wellFormed(k) !== k)) return value;
    return Object.fromEntries(keys.map((k) => [wellFormed(k), (value as Record<string, unknown>)[k]]));
  });
}
