/** Secret comparisons and signatures that every webhook needs. */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Constant-time string equality (the length is not secret: it is compared first). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * A stable secret derived from another one (e.g. a webhook secret from a bot token), so every
 * process of a deployment agrees without one more variable, and the source is never sent back.
 */
export function deriveSecret(purpose: string, from: string): string {
  return createHmac('sha256', `blinger-bridge/${purpose}`).update(from).digest('hex');
}
