/** HTTP details every adapter that talks to a REST API needs. */

/**
 * Milliseconds a `Retry-After` header asks for: delta-seconds or an HTTP date; undefined when
 * absent or unreadable. Capped at a day, so a wild value cannot park a conversation for ever.
 */
export function retryAfterMs(header: string | string[] | undefined, nowMs = Date.now()): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return undefined;
  const ms = /^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : Date.parse(value) - nowMs;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, Math.round(ms)), 86_400_000);
}
