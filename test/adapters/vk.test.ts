/** The VK adapter against the shared conformance suite, once per way of receiving. */
import { startVkDouble, type VkEvent, type VkFault } from '../doubles/vk-api.js';
import { describeConformance } from './conformance.js';
import type { ConformanceHarness, FailureKind, PlatformMessage } from './harness.js';

const SECRET = 'ConformanceSecret42';

const FAILURES: Record<FailureKind, VkFault> = {
  transient: { error_code: 10, error_msg: 'Internal server error' },
  rate_limited: { error_code: 6, error_msg: 'Too many requests per second' },
  permanent: { error_code: 901, error_msg: "Can't send messages for users without permission" },
};

function kindOf(attachments: string[]): PlatformMessage['kind'] {
  if (attachments[0]?.startsWith('photo')) return 'image';
  if (attachments[0]?.startsWith('doc')) return 'file';
  return 'text';
}

function vkHarness(mode: 'longpoll' | 'callback'): ConformanceHarness {
  return {
    type: 'vk',
    async start({ seed }) {
      // Users may be written to without writing first (VK: once they allowed it); 901 is injected.
      const vk = await startVkDouble({ seed, openPeers: true });
      const peers = new Map<string, number>();
      const events = new Map<string, VkEvent>();
      const unacknowledged = new Set<string>();
      const peerOf = (user: string) => {
        if (!peers.has(user)) peers.set(user, 300_001 + peers.size);
        return peers.get(user)!;
      };
      /** VK hands the event over: queued for the long poll, or POSTed to the callback server. */
      const hand = async (event: VkEvent): Promise<{ eventId: string; acknowledged?: boolean }> => {
        events.set(event.event_id, event);
        if (mode === 'longpoll') {
          vk.pushEvent(event);
          return { eventId: event.event_id };
        }
        const delivery = await vk.deliverCallback(event);
        if (delivery.ok) unacknowledged.delete(event.event_id);
        else unacknowledged.add(event.event_id);
        return { eventId: event.event_id, acknowledged: delivery.ok };
      };
      return {
        settings: {
          type: 'vk',
          token: vk.community.token,
          groupId: vk.community.id,
          apiRoot: vk.apiRoot,
          mode,
          secret: SECRET,
          pollLease: 4000,
          requestTimeout: 3000,
        },
        secrets: [vk.community.token, SECRET],
        async connect({ url, channelId }) {
          if (mode !== 'callback') return;
          const server = vk.addCallbackServer({ url: `${url}/vk/${channelId}`, secret: SECRET });
          const confirmed = await vk.confirmCallbackServer(server);
          if (!confirmed.confirmed) throw new Error(`the bridge did not confirm the callback server: ${JSON.stringify(confirmed)}`);
        },
        clientId: (user) => String(peerOf(user)),
        userSends: (user, text) => hand(vk.makeMessageNew({ peer: peerOf(user), text })),
        async redeliver(eventId) {
          await hand(events.get(eventId)!);
        },
        async redeliverUnacknowledged() {
          for (const id of [...unacknowledged]) await hand(events.get(id)!);
        },
        async userSendsFile(user) {
          const bytes = Buffer.from("%PDF-1.4\n% a user's invoice\n%%EOF\n");
          const event = vk.makeMessageNew({ peer: peerOf(user), attachments: [{ type: 'doc', bytes, title: 'invoice', ext: 'pdf' }] });
          return { eventId: (await hand(event)).eventId, bytes };
        },
        received: (user) =>
          vk.sent
            .filter((m) => m.peer_id === peerOf(user))
            .map((m) => ({ kind: kindOf(m.attachments), ...(m.text ? { text: m.text } : {}) })),
        failNext: (_user, kind, count = 1) => vk.failNext('messages.send', FAILURES[kind], count),
        setFailureRate: (rate) => vk.setFailureRate('messages.send', rate, FAILURES.transient),
        close: () => vk.close(),
      };
    },
  };
}

describeConformance(vkHarness('longpoll'));
describeConformance(vkHarness('callback'));
