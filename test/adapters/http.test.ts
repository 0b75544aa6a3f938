/** The HTTP channel against the shared conformance suite, with a double of an app on the other side. */
import { startHttpAppDouble } from '../doubles/http-app.js';
import { describeConformance } from './conformance.js';
import type { FailureKind } from './harness.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const FAULTS: Record<FailureKind, { status: number; retryAfterS?: number }> = {
  transient: { status: 503 },
  rate_limited: { status: 429, retryAfterS: 1 },
  permanent: { status: 410 },
};

describeConformance({
  type: 'http',
  notApplicable: {
    'media-links':
      'the app posts file URLs of its own, which the bridge passes to Blinger as given (docs/architecture.md, "The HTTP channel")',
  },
  async start({ seed }) {
    const app = await startHttpAppDouble({ secret: SECRET, seed });
    let bridge = { url: '', channelId: '' };
    const sent = new Map<string, unknown>();
    const post = async (body: unknown, id?: string) => {
      const res = await app.send(bridge.url, bridge.channelId, body, id ? { id } : {});
      sent.set(res.id, body);
      return { eventId: res.id, acknowledged: res.status === 200 };
    };
    return {
      settings: { type: 'http', secret: SECRET, deliveryUrl: app.deliveryUrl, timeout: 3000 },
      secrets: [SECRET],
      async connect(b) {
        bridge = b;
      },
      clientId: (user) => `app-user-${user}`,
      userSends: (user, text) => post({ user: { id: `app-user-${user}`, name: user }, type: 'text', text }),
      async redeliver(eventId) {
        await post(sent.get(eventId), eventId);
      },
      // The app retries what the bridge did not accept; here the suite asks it to.
      async redeliverUnacknowledged() {
        for (const [id, body] of sent) await app.send(bridge.url, bridge.channelId, body, { id });
      },
      userSendsFile: () => Promise.reject(new Error('not applicable: the app sends URLs of its own')),
      received: (user) =>
        app.delivered
          .filter((d) => d.body.user_id === `app-user-${user}`)
          .map((d) => ({ kind: d.body.message.type, ...(d.body.message.text !== undefined ? { text: d.body.message.text } : {}) })),
      failNext: (_user, kind, count = 1) => app.failNext(FAULTS[kind], count),
      setFailureRate: (rate) => app.setFailureRate(rate),
      close: () => app.close(),
    };
  },
});
