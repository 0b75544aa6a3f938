/**
 * Conformance drivers for the three Graph channel types (WhatsApp, Messenger, Instagram) over the
 * Graph API double: users write through Meta's signed webhook, and what the double accepted is
 * what the user got. The double opens a user's 24-hour window when they write; a user the suite
 * only replies to gets it opened when the harness names their conversation.
 */
import { createHash } from 'node:crypto';
import { GRAPH_ERRORS, startGraphDouble, type GraphApiError, type GraphDouble, type GraphSent, type WaUser } from '../doubles/graph-api.js';
import { metaSettings, VERIFY_TOKEN, type MetaType } from '../helpers/meta.js';
import type { ConformanceHarness, FailureKind, PlatformDriver, PlatformMessage } from './harness.js';

const FAILURES: Record<MetaType, Record<FailureKind, GraphApiError>> = {
  whatsapp: {
    transient: GRAPH_ERRORS.serviceUnavailable,
    rate_limited: {
      status: 400,
      code: 130429,
      message: '(#130429) Rate limit hit',
      details: 'Cloud API message throughput has been reached.',
    },
    permanent: GRAPH_ERRORS.undeliverable,
  },
  messenger: {
    transient: GRAPH_ERRORS.unknown,
    rate_limited: GRAPH_ERRORS.callsRateLimit,
    permanent: { status: 400, code: 551, subcode: 1545041, message: "(#551) This person isn't available right now." },
  },
  instagram: {
    transient: GRAPH_ERRORS.unknown,
    rate_limited: GRAPH_ERRORS.callsRateLimit,
    permanent: { status: 400, code: 551, subcode: 1545041, message: "(#551) This person isn't available right now." },
  },
};

/** A stable, distinct id per harness user name. */
const digits = (user: string, n: number) =>
  BigInt(`0x${createHash('sha256').update(user).digest('hex').slice(0, 15)}`)
    .toString()
    .padEnd(n, '7')
    .slice(0, n);

export function metaHarness(type: MetaType): ConformanceHarness {
  return {
    type,
    async start({ seed }) {
      const g = await startGraphDouble({ seed });
      let webhook = '';
      const events = new Map<string, object>();
      const unacknowledged = new Set<string>();
      const waUser = (user: string): WaUser => ({ waId: `1${digits(user, 10)}`, userId: `US.${digits(user, 18)}`, name: user });
      const scoped = (user: string) => `9${digits(user, 15)}`;
      const idOf = (user: string) => (type === 'whatsapp' ? waUser(user).userId : scoped(user));
      const opened = new Set<string>();
      const clientId = (user: string) => {
        const id = idOf(user);
        if (!opened.has(id)) g.openWindow(id);
        opened.add(id);
        return id;
      };

      const hand = async (eventId: string, payload: object) => {
        events.set(eventId, payload);
        const r = await g.deliver(webhook, payload, { attempts: 1 });
        if (r.delivered) unacknowledged.delete(eventId);
        else unacknowledged.add(eventId);
        return { eventId, acknowledged: r.delivered };
      };
      const text = (user: string, body: string): [string, object] => {
        const id = `${type}-${events.size + 1}-${Date.now()}`;
        if (type === 'whatsapp') return [id, g.wa.text(body, { user: waUser(user), id })];
        const p = type === 'messenger' ? g.fb : g.ig;
        return [id, p.text(body, { user: scoped(user), mid: id })];
      };

      const driver: PlatformDriver = {
        settings: metaSettings(type, g),
        secrets: [String(metaSettings(type, g).accessToken), g.appSecret],
        async connect({ url, channelId }) {
          webhook = `${url}/${type}/${channelId}`;
          await g.subscribe(webhook, VERIFY_TOKEN);
        },
        clientId,
        userSends: (user, body) => hand(...text(user, body)),
        async redeliver(eventId) {
          await hand(eventId, events.get(eventId)!);
        },
        async redeliverUnacknowledged() {
          for (const id of [...unacknowledged]) await hand(id, events.get(id)!);
        },
        async userSendsFile(user) {
          const bytes = Buffer.from(`%PDF-1.4 ${user}'s invoice`);
          const id = `${type}-file-${events.size + 1}`;
          const payload =
            type === 'whatsapp'
              ? g.wa.document({ content: bytes, mime: 'application/pdf', filename: 'invoice.pdf' }, { user: waUser(user), id })
              : (type === 'messenger' ? g.fb : g.ig).attachment(
                  'file',
                  { content: bytes, mime: 'application/pdf' },
                  { user: scoped(user), mid: id },
                );
          await hand(id, payload);
          return { eventId: id, bytes };
        },
        received: (user) =>
          g.sent.filter((s) => s.channel === type && s.to === idOf(user) && s.type !== 'sender_action').map((s) => platformMessage(g, s)),
        failNext: (_user, kind, count = 1) => g.failNext(`${type}.messages`, FAILURES[type][kind], count),
        setFailureRate: (rate) => g.setFailureRate(`${type}.messages`, rate, FAILURES[type].transient),
        close: () => g.close(),
      };
      return driver;
    },
  };
}

/** What the user got, from what the double accepted (uploaded WhatsApp media with their bytes). */
function platformMessage(g: GraphDouble, s: GraphSent): PlatformMessage {
  if (s.channel === 'whatsapp') {
    if (s.type === 'text') return { kind: 'text', text: s.text! };
    const media = s.body[s.type] as { id?: string } | undefined;
    const bytes = media?.id ? g.getMedia(media.id)?.content : undefined;
    return { kind: s.type === 'image' ? 'image' : 'file', ...(s.text ? { text: s.text } : {}), ...(bytes ? { bytes } : {}) };
  }
  if (s.type === 'text') return { kind: 'text', text: s.text! };
  return { kind: s.type === 'image' ? 'image' : 'file' };
}
