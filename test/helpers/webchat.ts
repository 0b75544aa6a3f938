/**
 * A real bridge for the web chat and sandbox tests: sandbox mode (web chat ↔ the Custom App
 * stand-in) or explicit channels, on its own Redis key prefix, logs captured, keys removed after.
 */
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import type { Role } from '../../src/bridge.js';
import type { ChannelConfig } from '../../src/config/schema.js';
import { launchTestBridge, testChannel, type TestBridge } from './bridge.js';
import { WebchatAdapter } from '../../adapters/webchat/adapter.js';
import type { BotFlowInput } from '../../src/flow/config.js';

export const MEDIA_SECRET = 'webchat-test-media-secret-0123456789';

/** A web chat channel as BRIDGE_CONFIG has it, optionally with a bot flow (validated as the config's `bot` is). */
export function webchatChannel(o: {
  id: string;
  blingerUrl: string;
  token: string;
  adapter?: Record<string, unknown>;
  bot?: BotFlowInput;
}): ChannelConfig {
  return testChannel({
    id: o.id,
    blingerUrl: o.blingerUrl,
    blingerToken: o.token,
    adapter: { type: 'webchat', ...o.adapter },
    bot: o.bot,
    allowPrivateUrls: false,
  });
}

export interface ChatBridge extends TestBridge {
  /** The webchat adapter of a channel (default: the sandbox's). */
  chat(channelId?: string): WebchatAdapter;
  /** The sandbox channel's Custom App token (what the inbox page posts replies with). */
  sandboxToken(): string;
}

export interface ChatBridgeOptions {
  /** Explicit channels; without them the bridge runs in sandbox mode. */
  channels?: ChannelConfig[];
  role?: Role;
  prefix?: string;
  /** Keep the keys: another bridge on the same prefix goes on with them. */
  keepKeys?: boolean;
  /** A Redis of the test's own (a throwaway server it stops and restarts); its keys are left alone. */
  redisUrl?: string;
}

export async function startChatBridge(o: ChatBridgeOptions = {}): Promise<ChatBridge> {
  const tb = await launchTestBridge({
    config: { sandbox: !o.channels, channels: o.channels ?? [] },
    secrets: [MEDIA_SECRET],
    mediaSecret: MEDIA_SECRET,
    prefix: o.prefix,
    redisUrl: o.redisUrl,
    role: o.role,
    keepKeys: o.keepKeys,
    graceMs: 2000,
  });
  const { bridge } = tb;
  return {
    ...tb,
    chat(channelId = 'sandbox') {
      const a = bridge.channels.get(channelId)?.adapter;
      if (!(a instanceof WebchatAdapter)) throw new Error(`no webchat channel ${channelId}`);
      return a;
    },
    sandboxToken() {
      const c = bridge.channels.get('sandbox');
      if (!c) throw new Error('not in sandbox mode');
      return c.config.blinger.token;
    },
  };
}

/** A chat socket as a non-browser client (an app) holds it: frames kept in order, awaited by type. */
export interface ChatClient {
  ws: WebSocket;
  frames: Array<Record<string, unknown> & { type: string }>;
  /** The next frame of this type (one already received and not yet taken counts). */
  next(type: string, match?: (f: Record<string, unknown>) => boolean): Promise<Record<string, unknown> & { type: string }>;
  send(frame: unknown): void;
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

export async function chatClient(url: string, opts: { headers?: Record<string, string> } = {}): Promise<ChatClient> {
  const ws = new WebSocket(url, { headers: opts.headers });
  const frames: ChatClient['frames'] = [];
  const taken = new Set<number>();
  const waiters: Array<{
    type: string;
    match?: (f: Record<string, unknown>) => boolean;
    resolve: (f: ChatClient['frames'][number]) => void;
  }> = [];
  const offer = (i: number) => {
    const f = frames[i]!;
    const w = waiters.find((x) => x.type === f.type && (!x.match || x.match(f)));
    if (!w) return;
    waiters.splice(waiters.indexOf(w), 1);
    taken.add(i);
    w.resolve(f);
  };
  ws.on('message', (data) => {
    frames.push(JSON.parse(String(data)) as ChatClient['frames'][number]);
    offer(frames.length - 1);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    frames,
    next(type, match) {
      const i = frames.findIndex((f, j) => !taken.has(j) && f.type === type && (!match || match(f)));
      if (i >= 0) {
        taken.add(i);
        return Promise.resolve(frames[i]!);
      }
      return new Promise((resolve, reject) => {
        // Shorter than a test's timeout, so a missing frame says which one and what came instead.
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no "${type}" frame within 10 s; got ${JSON.stringify(frames)}`));
        }, 10_000);
        const waiter = {
          type,
          match,
          resolve: (f: ChatClient['frames'][number]) => {
            clearTimeout(timer);
            resolve(f);
          },
        };
        waiters.push(waiter);
      });
    },
    send: (frame) => ws.send(JSON.stringify(frame)),
    closed,
    async close() {
      ws.close();
      await closed;
    },
  };
}

/** A random visitor key, as the page makes one. */
export function newVisitorKey(): string {
  return randomBytes(32).toString('base64url');
}
