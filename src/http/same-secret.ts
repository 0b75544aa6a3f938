import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Whether a secret someone sent equals the expected one, in a time that depends on neither their
 * contents nor their lengths: digests of both are compared, so they are always the same length.
 */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
