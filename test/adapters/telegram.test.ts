/** The Telegram adapter against the shared conformance suite, once per way of receiving. */
import type { Update } from 'telegraf/types';
import { startTelegramDouble, type TelegramApiError } from '../doubles/telegram-api.js';
import { BOT_TOKEN } from '../helpers/bridge.js';
import { pngBytes } from '../helpers/browser.js';
import { describeConformance } from './conformance.js';
import type { ConformanceHarness, FailureKind, PlatformMessage } from './harness.js';

const FAILURES: Record<FailureKind, TelegramApiError> = {
  transient: { error_code: 502, description: 'Bad Gateway' },
  rate_limited: { error_code: 429, description: 'Too Many Requests: retry after 1', retry_after: 1 },
  permanent: { error_code: 403, description: 'Forbidden: bot was blocked by the user' },
};

const KINDS: Record<string, PlatformMessage['kind']> = { sendMessage: 'text', sendPhoto: 'image', sendDocument: 'file' };

function telegramHarness(mode: 'webhook' | 'polling'): ConformanceHarness {
  return {
    type: 'telegram',
    ...(mode === 'polling'
      ? {
          notApplicable: {
            redelivery:
              'in polling mode Telegram hands an update again only until the offset confirms it, which the Redis-full case covers',
          },
        }
      : {}),
    async start({ seed }) {
      const tg = await startTelegramDouble({ seed });
      const chats = new Map<string, number>();
      const updates = new Map<string, Update>();
      const chatOf = (user: string) => {
        if (!chats.has(user)) chats.set(user, 5_100_000_000 + chats.size);
        return chats.get(user)!;
      };
      const hand = async (update: Update) => {
        updates.set(String(update.update_id), update);
        // Telegram keeps an update pending until the bot confirms it (polling) or answers 2xx (webhook).
        tg.pushUpdate(update);
        if (mode === 'polling') return { eventId: String(update.update_id) };
        const answer = await tg.deliverWebhook(update);
        return { eventId: String(update.update_id), acknowledged: answer.status >= 200 && answer.status < 300 };
      };
      return {
        settings: {
          type: 'telegram',
          token: BOT_TOKEN,
          mode,
          apiRoot: tg.apiRoot,
          pollTimeout: 1,
          requestTimeout: 3000,
          // Pacing has tests of its own; here a private chat may take 20 messages a second.
          limits: { privateChat: { max: 20, windowMs: 1000 } },
        },
        secrets: [BOT_TOKEN],
        connect: async () => undefined,
        clientId: (user) => String(chatOf(user)),
        userSends: (user, text) => hand(tg.makeMessageUpdate({ chat_id: chatOf(user), text })),
        async redeliver(eventId) {
          await hand(updates.get(eventId)!);
        },
        async redeliverUnacknowledged() {
          if (mode === 'webhook') await tg.deliverPending();
        },
        async userSendsFile(user) {
          const bytes = pngBytes(40, 30);
          const file = tg.addFile({ content: bytes, mime: 'application/pdf', file_name: 'invoice.pdf' });
          const sent = await hand(
            tg.makeMessageUpdate({
              chat_id: chatOf(user),
              extra: { document: { ...file, file_name: 'invoice.pdf', mime_type: 'application/pdf' } },
            }),
          );
          return { eventId: sent.eventId, bytes };
        },
        received: (user) =>
          tg.sent
            .filter((s) => s.chat_id === String(chatOf(user)))
            .map((s) => ({ kind: KINDS[s.method] ?? 'text', text: s.text ?? s.caption, ...(s.bytes ? { bytes: s.bytes } : {}) })),
        failNext: (_user, kind, count = 1) => tg.failNext('sendMessage', FAILURES[kind], count),
        setFailureRate: (rate) => tg.setFailureRate('sendMessage', rate, FAILURES.transient),
        close: () => tg.close(),
      };
    },
  };
}

describeConformance(telegramHarness('webhook'));
describeConformance(telegramHarness('polling'));
