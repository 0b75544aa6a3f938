/**
 * MAX's send limits, for the core's pacer (SendLimits):
 * - about 30 requests per second per bot on the API host (dev.max.ru, POST /uploads: "30 rps";
 *   green-api.com's MAX Bot API FAQ) — every call counts, uploads included;
 * - at most 2 messages (and callback answers) per second into one chat (dev.max.ru, quoted in
 *   /work/shared/messengers.md §7), dialogs and group chats alike.
 * MAX answers 429 without Retry-After when a limit is passed (errors.ts waits anyway).
 */
import type { SendLimits } from '../../src/adapter.js';

export const MAX_LIMITS: Required<SendLimits> = {
  account: { max: 30, windowMs: 1000 },
  conversation: { max: 2, windowMs: 1000 },
  group: { max: 2, windowMs: 1000 },
};

/** Group chats and channels have negative chat ids in MAX; dialogs positive ones. */
export function isGroupChat(chatId: string): boolean {
  return chatId.startsWith('-');
}
