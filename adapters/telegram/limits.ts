/**
 * Telegram's published send limits, for the core's pacer (SendLimits): 30 messages/s per bot;
 * about 1/s per private chat with short bursts (3 in any 3 s); 20/min per group. The pacer counts
 * each request when it leaves and keeps its own margin for the trip (src/delivery/pacer.ts), so
 * these are Telegram's numbers as they are.
 */
import type { RateLimit, SendLimits } from '../../src/adapter.js';

/** The settings' names for them (`limits: { bot, privateChat, group }`). */
export interface TelegramLimits {
  bot: RateLimit;
  privateChat: RateLimit;
  group: RateLimit;
}

export const TELEGRAM_LIMITS: TelegramLimits = {
  bot: { max: 30, windowMs: 1000 },
  privateChat: { max: 3, windowMs: 3000 },
  group: { max: 20, windowMs: 60_000 },
};

/** Telegram's limits, with the settings' overrides, as the pacer's SendLimits. */
export function sendLimits(overrides: Partial<TelegramLimits> = {}): Required<SendLimits> {
  return {
    account: overrides.bot ?? TELEGRAM_LIMITS.bot,
    conversation: overrides.privateChat ?? TELEGRAM_LIMITS.privateChat,
    group: overrides.group ?? TELEGRAM_LIMITS.group,
  };
}

/** Group and channel chat ids are negative in the Bot API. */
export function isGroupChat(chatId: string): boolean {
  return chatId.startsWith('-');
}
