/**
 * Telegram's published send limits, as sliding windows for src/delivery/pacing.ts:
 * 30 messages/s per bot; about 1/s per private chat with short bursts; 20/min per group.
 * The windows are a little longer than the limits so that network jitter between the slot and
 * Telegram's clock does not turn a paced send into a 429.
 */
import type { Window } from '../../src/toolkit/index.js';

const JITTER_MS = 25;

export interface Limit {
  max: number;
  windowMs: number;
}

export interface TelegramLimits {
  bot: Limit;
  privateChat: Limit;
  group: Limit;
}

export const TELEGRAM_LIMITS: TelegramLimits = {
  bot: { max: 30, windowMs: 1000 },
  privateChat: { max: 3, windowMs: 3000 },
  group: { max: 20, windowMs: 60_000 },
};

/** Group and channel chat ids are negative in the Bot API. */
export function isGroupChat(chatId: string): boolean {
  return chatId.startsWith('-');
}

export function pacingWindows(keyPrefix: string, chatId: string, limits: TelegramLimits = TELEGRAM_LIMITS): Window[] {
  const chat = isGroupChat(chatId) ? limits.group : limits.privateChat;
  // The bot-wide window first: it is the shared one, whose slots takeSlot reserves in order.
  return [
    { key: `${keyPrefix}:bot`, max: limits.bot.max, windowMs: limits.bot.windowMs + JITTER_MS },
    { key: `${keyPrefix}:chat:${chatId}`, max: chat.max, windowMs: chat.windowMs + JITTER_MS },
  ];
}
