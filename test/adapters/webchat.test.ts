/**
 * The web chat against the shared conformance suite, driven as a non-browser client drives it
 * (the versioned socket protocol of docs/client-api.md, and uploads over HTTP).
 */
import { clientIdOf, PROTOCOL_VERSION } from '../../adapters/webchat/protocol.js';
import { pngBytes } from '../helpers/browser.js';
import { chatClient, newVisitorKey, type ChatClient } from '../helpers/webchat.js';
import { describeConformance } from './conformance.js';
import type { PlatformMessage } from './harness.js';

describeConformance({
  type: 'webchat',
  notApplicable: {
    'send-failures': "agents' replies are stored in the visitor's history in Redis and pushed to open tabs; no messenger can refuse them",
  },
  async start() {
    let bridge = { url: '', channelId: '' };
    const keys = new Map<string, string>();
    const sockets = new Map<string, ChatClient>();
    const frames = new Map<string, { user: string; frame: Record<string, unknown> }>();
    const keyOf = (user: string) => {
      if (!keys.has(user)) keys.set(user, newVisitorKey());
      return keys.get(user)!;
    };
    /** The visitor's open tab: hello once, then its frames. */
    const socketOf = async (user: string): Promise<ChatClient> => {
      const open = sockets.get(user);
      if (open) return open;
      const c = await chatClient(`${bridge.url.replace(/^http/, 'ws')}/chat/${bridge.channelId}/ws`);
      c.send({ type: 'hello', version: PROTOCOL_VERSION, key: keyOf(user) });
      await c.next('welcome');
      sockets.set(user, c);
      return c;
    };
    /** Sends a frame and reads its first answer: an ack (durable) or an error (not queued). */
    const submit = async (user: string, frame: Record<string, unknown>): Promise<boolean> => {
      const c = await socketOf(user);
      const answered = new Promise<boolean>((resolve) => {
        const onMessage = (data: unknown) => {
          const f = JSON.parse(String(data)) as { type: string; id?: string };
          if (f.id !== frame.id || (f.type !== 'ack' && f.type !== 'error')) return;
          c.ws.off('message', onMessage);
          resolve(f.type === 'ack');
        };
        c.ws.on('message', onMessage);
      });
      c.send(frame);
      return answered;
    };
    let seq = 0;
    return {
      settings: { type: 'webchat' },
      secrets: [],
      async connect(b) {
        bridge = b;
      },
      clientId: (user) => clientIdOf(keyOf(user)),
      // An agent can write only into a conversation the visitor started.
      async prepare(user) {
        if (!(await submit(user, { type: 'message', id: `conf-open-${(seq++).toString().padStart(4, '0')}`, text: 'Hello' }))) {
          throw new Error(`the visitor ${user} could not start a conversation`);
        }
      },
      async userSends(user, text) {
        const id = `conf-${(seq++).toString().padStart(6, '0')}`;
        const frame = { type: 'message', id, text };
        frames.set(id, { user, frame });
        return { eventId: id, acknowledged: await submit(user, frame) };
      },
      async redeliver(eventId) {
        const { user, frame } = frames.get(eventId)!;
        await submit(user, frame);
      },
      // The page sends a message again until it has its ack; the same id makes it a no-op.
      async redeliverUnacknowledged() {
        for (const { user, frame } of frames.values()) await submit(user, frame);
      },
      async userSendsFile(user) {
        const bytes = pngBytes(20, 10);
        const res = await fetch(`${bridge.url}/chat/${bridge.channelId}/upload`, {
          method: 'POST',
          headers: {
            'content-type': 'image/png',
            'x-visitor-key': keyOf(user),
            'x-message-id': `conf-file-${seq++}`,
            'x-file-name': 'shot.png',
          },
          body: bytes,
        });
        if (res.status !== 200) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
        return { eventId: 'upload', bytes };
      },
      received(user): PlatformMessage[] {
        const c = sockets.get(user);
        if (!c) return [];
        return c.frames
          .filter((f) => f.type === 'message' && (f.entry as { from?: string }).from === 'agent')
          .map((f) => {
            const e = f.entry as { type: PlatformMessage['kind']; data: string };
            return e.type === 'text' ? { kind: 'text', text: e.data } : { kind: e.type };
          });
      },
      failNext() {
        throw new Error('not applicable: web chat sends cannot fail');
      },
      setFailureRate(rate) {
        if (rate > 0) throw new Error('not applicable: web chat sends cannot fail');
      },
      async close() {
        await Promise.all([...sockets.values()].map((c) => c.close()));
      },
    };
  },
});
