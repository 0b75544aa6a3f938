/** The MAX adapter against the shared conformance suite, once per way of receiving. */
import { startMaxDouble, type MaxFault, type MaxUpdate } from '../doubles/max-api.js';
import { pngBytes } from '../helpers/browser.js';
import { MAX_TOKEN } from '../helpers/max.js';
import { describeConformance } from './conformance.js';
import type { ConformanceHarness, FailureKind, PlatformMessage } from './harness.js';

const FAULTS: Record<FailureKind, MaxFault> = {
  transient: { status: 503, code: 'service.unavailable', message: 'Service temporarily unavailable' },
  // MAX sends no Retry-After with its 429.
  rate_limited: { status: 429, code: 'too.many.requests', message: 'Too many requests. Limit is: 10 calls per second.' },
  permanent: { status: 403, code: 'chat.denied', message: 'Key: error.dialog.suspended, args: [5200000001,].' },
};

function maxHarness(mode: 'webhook' | 'polling'): ConformanceHarness {
  return {
    type: 'max',
    async start({ seed }) {
      // The bridge under test listens on plain loopback: the double takes its http webhook URL.
      const max = await startMaxDouble({ seed, allowHttpWebhooks: true });
      const users = new Map<string, number>();
      const updates = new Map<string, MaxUpdate>();
      const userOf = (user: string) => {
        if (!users.has(user)) users.set(user, users.size + 1);
        return users.get(user)!;
      };
      /**
       * Each user has a dialog of their own (chat ids apart from user ids, as in MAX), open before
       * the suite's first reply to them: MAX bots write only into existing chats.
       */
      const chatOf = (user: string) => {
        const chatId = 5_200_000_000 + userOf(user);
        if (!dialogs.has(chatId)) dialogs.add(max.addDialog({ user_id: 7_000 + userOf(user), first_name: user }, chatId));
        return chatId;
      };
      const dialogs = new Set<number>();
      /** MAX holds an update until a poll confirms it, or a webhook delivery is answered 200. */
      const hand = async (update: MaxUpdate) => {
        const mid = (update.message as { body: { mid: string } }).body.mid;
        updates.set(mid, update);
        if (mode === 'polling') return { eventId: mid };
        const results = await max.deliverWebhook();
        const mine = results.filter((r) => r.update === update);
        return { eventId: mid, acknowledged: mine.length > 0 && mine.every((r) => r.ok) };
      };
      const push = (user: string, content: Parameters<typeof max.pushMessage>[0]) =>
        max.pushMessage(content, { chatId: chatOf(user), user: { user_id: 7_000 + userOf(user), first_name: user } });
      return {
        settings: {
          type: 'max',
          token: MAX_TOKEN,
          mode,
          apiRoot: max.apiRoot,
          pollTimeout: 1,
          requestTimeout: 3000,
          // Pacing has tests of its own; here a dialog may take 20 messages a second.
          limits: { conversation: { max: 20, windowMs: 1000 } },
        },
        secrets: [MAX_TOKEN],
        connect: async () => undefined,
        clientId: (user) => String(chatOf(user)),
        userSends: (user, text) => hand(push(user, text)),
        async redeliver(eventId) {
          // MAX hands the very same update again (a webhook retry, or an unconfirmed poll).
          await hand(max.pushUpdate(updates.get(eventId)!));
        },
        async redeliverUnacknowledged() {
          if (mode === 'webhook') await max.deliverWebhook();
        },
        async userSendsFile(user) {
          const bytes = pngBytes(40, 30);
          const sent = await hand(push(user, { attachments: [max.fileAttachment(bytes, 'invoice.pdf', 'application/pdf')] }));
          return { eventId: sent.eventId, bytes };
        },
        received: (user) =>
          max.sent
            .filter((s) => s.chatId === chatOf(user))
            .map((s): PlatformMessage => {
              const file = s.files[0];
              if (!file) return { kind: 'text', ...(s.text ? { text: s.text } : {}) };
              return { kind: file.type === 'image' ? 'image' : 'file', bytes: file.bytes, ...(s.text ? { text: s.text } : {}) };
            }),
        failNext: (_user, kind, count = 1) => max.failNext('messages', FAULTS[kind], count),
        setFailureRate: (rate) => max.setFailureRate('messages', rate, FAULTS.transient),
        close: () => max.close(),
      };
    },
  };
}

describeConformance(maxHarness('webhook'));
describeConformance(maxHarness('polling'));
