/** VK texts shown to agents in one line (a quoted reply, a forwarded message). */
import { truncate } from '../../src/toolkit/index.js';

/** The first `max` characters on one line, never cutting a character in two. */
export function clip(text: string, max: number): string {
  return truncate(text.replace(/\s+/g, ' ').trim(), max, '…');
}
