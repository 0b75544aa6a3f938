/**
 * The chaos tests' world: a throwaway redis-server of their own (so it can be restarted), the two
 * doubles, bridges in child processes (so they can be killed), and a load of numbered messages
 * whose arrival is checked with verify().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { startTelegramDouble, DEFAULT_BOT, type TelegramDouble } from '../../doubles/telegram-api.js';
import { startBlingerDouble, type BlingerDouble } from '../../doubles/blinger.js';
import { freePort, spawnRedis } from '../../helpers/net.js';
import { deriveWebhookSecret } from '../../../adapters/telegram/settings.js';
import type { BridgeConfig, ChannelConfig } from '../../../src/config/schema.js';
import type { Role } from '../../../src/bridge.js';
import { parseItem } from '../../../src/delivery/lane-store.js';
import type { Request } from '../../../bench/lib/load.js';
import { groupBy, noFigures, verify, type Copy, type Figures } from './verify.js';

export const CHANNEL_ID = 'chaos';
export const BLINGER_TOKEN = 'chaos-blinger-token-0123456789';
export const BOT_TOKEN = DEFAULT_BOT.token;
export const WEBHOOK_SECRET = deriveWebhookSecret(BOT_TOKEN);
const ROOT = new URL('../../..', import.meta.url).pathname;
/** The Telegram double does not enforce limits here, so neither does the bridge (volume tests). */
const NO_LIMITS = {
  bot: { max: 1_000_000, windowMs: 1000 },
  privateChat: { max: 1_000_000, windowMs: 1000 },
  group: { max: 1_000_000, windowMs: 1000 },
};

type Cleanup = () => Promise<unknown> | unknown;

export class World {
  readonly cleanups: Cleanup[] = [];
  redisPort = 0;
  redisDir = '';
  redisArgs: string[] = [];
  redisProc!: ChildProcess;
  redis!: Redis;
  tg!: TelegramDouble;
  blinger!: BlingerDouble;
  readonly prefix = `chaos${process.pid}`;
  /** Attempts the bridges logged as timed out, by "<direction> <lane job id>" (noteTimeout). */
  readonly timeoutsByLane = new Map<string, number>();
  /** Channels besides the Telegram one (the fuzz test's other routes). */
  readonly extraChannels: ChannelConfig[] = [];

  get redisUrl(): string {
    return `redis://127.0.0.1:${this.redisPort}`;
  }

  static async create(o: { redisArgs?: string[]; blingerTimeoutMs?: number; seed?: number } = {}): Promise<World> {
    const w = new World();
    w.redisPort = await freePort();
    w.redisDir = mkdtempSync(join(tmpdir(), 'bb-chaos-redis-'));
    w.redisArgs = ['--dir', w.redisDir, ...(o.redisArgs ?? [])];
    w.cleanups.push(() => rmSync(w.redisDir, { recursive: true, force: true }));
    await w.startRedis();
    w.redis = new Redis(w.redisUrl, { maxRetriesPerRequest: null });
    // Restarts are the point of some tests: this client just reconnects.
    w.redis.on('error', () => undefined);
    w.cleanups.push(() => w.redis.disconnect());
    w.tg = await startTelegramDouble({ seed: o.seed ?? 11 });
    w.blinger = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: CHANNEL_ID, seed: o.seed ?? 12 });
    w.cleanups.push(
      () => w.tg.close(),
      () => w.blinger.close(),
    );
    return w;
  }

  async startRedis(): Promise<void> {
    this.redisProc = await spawnRedis(this.redisPort, this.redisArgs);
    const proc = this.redisProc;
    this.cleanups.push(() => void proc.kill('SIGKILL'));
  }

  async stopRedis(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const proc = this.redisProc;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    await once(proc, 'exit');
  }

  config(port: number, blingerTimeoutMs = 2000): BridgeConfig {
    return {
      redisUrl: this.redisUrl,
      redisPrefix: this.prefix,
      port,
      host: '127.0.0.1',
      publicUrl: `http://127.0.0.1:${port}`,
      mediaSecret: 'chaos-media-secret-0123456789',
      mediaTtlMs: 3_600_000,
      logLevel: 'warn',
      retryMaxAgeMs: 600_000,
      concurrency: 20,
      sandbox: false,
      channels: [
        {
          id: CHANNEL_ID,
          blinger: { url: this.blinger.url, token: BLINGER_TOKEN, timeoutMs: blingerTimeoutMs },
          adapter: {
            type: 'telegram',
            token: BOT_TOKEN,
            mode: 'webhook',
            apiRoot: this.tg.apiRoot,
            requestTimeout: 1000,
            limits: NO_LIMITS,
          },
          allowPrivateUrls: true,
        },
        ...this.extraChannels,
      ],
    };
  }

  /** A bridge in a child process; resolves once it listens. */
  async startBridge(role: Role, o: { blingerTimeoutMs?: number } = {}): Promise<BridgeProcess> {
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/chaos/support/bridge-child.ts')], {
      cwd: ROOT,
      env: { ...process.env, CHAOS_CONFIG: JSON.stringify(this.config(port, o.blingerTimeoutMs)), CHAOS_ROLE: role },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (stderr.length < 100_000) stderr.push(line);
      this.noteTimeout(line);
    });
    this.cleanups.push(() => void child.kill('SIGKILL'));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /ready (\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code, signal) =>
        reject(new Error(`bridge (${role}) exited before it was ready (${code ?? signal}): ${stderr.join('\n').slice(-2000)}`)),
      );
    });
    child.removeAllListeners('exit');
    return new BridgeProcess(child, url, stderr);
  }

  /**
   * Logs of the bridges: one attempt the bridge gave up waiting for (its timeout) and will retry.
   * That attempt may still have arrived, so it explains one copy too many of a message in its lane.
   */
  private noteTimeout(line: string): void {
    if (!line.includes('"event":"retrying"')) return;
    const record = JSON.parse(line) as { direction?: string; job?: string; code?: string };
    if (record.code !== 'timeout') return;
    const lane = `${record.direction} ${record.job}`;
    this.timeoutsByLane.set(lane, (this.timeoutsByLane.get(lane) ?? 0) + 1);
  }

  /** Messages still waiting in lanes, both directions (0 once everything was delivered). */
  async pendingInLanes(): Promise<number> {
    let n = 0;
    for (const key of await this.laneKeys()) n += await this.redis.llen(key);
    return n;
  }

  /**
   * The text of every lane's head, both directions. Taken right after a worker died, these are the
   * messages its turns had in flight: a head is popped only once it was delivered.
   */
  async laneHeads(): Promise<Set<string>> {
    const heads = new Set<string>();
    for (const key of await this.laneKeys()) {
      const raw = await this.redis.lindex(key, 0);
      if (raw) heads.add(parseItem<{ data: string }>(raw).payload.data);
    }
    return heads;
  }

  private async laneKeys(): Promise<string[]> {
    const keys: string[] = [];
    for (const dir of ['inbound', 'outbound']) {
      for (const m of await this.redis.smembers(`${this.prefix}:lanes:${dir}`)) {
        const i = m.indexOf('|');
        keys.push(`${this.prefix}:lane:${dir}:${m.slice(0, i)}:${m.slice(i + 1)}`);
      }
    }
    return keys;
  }

  async dispose(): Promise<void> {
    for (const c of this.cleanups.splice(0).reverse()) {
      try {
        await c();
      } catch {
        /* best effort */
      }
    }
  }
}

export class BridgeProcess {
  constructor(
    readonly proc: ChildProcess,
    readonly url: string,
    private readonly stderr: string[],
  ) {}

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Everything it logged (warn and above), one record per line. */
  get log(): string {
    return this.stderr.join('\n');
  }

  async kill9(): Promise<void> {
    if (!this.alive) return;
    this.proc.kill('SIGKILL');
    await once(this.proc, 'exit');
  }
}

export interface Load {
  requests: Request[][];
  expected: Map<string, string[]>;
}

/** Telegram updates to the webhook: chat 2000+c, texts "<tag>c-i". */
export function inboundLoad(w: World, baseUrl: () => string, conversations: number, perConversation: number, tag = 'in'): Load {
  const requests: Request[][] = [];
  const expected = new Map<string, string[]>();
  const headers = { 'x-telegram-bot-api-secret-token': WEBHOOK_SECRET };
  for (let c = 0; c < conversations; c++) {
    const list: Request[] = [];
    const texts: string[] = [];
    for (let i = 0; i < perConversation; i++) {
      const text = `${tag}${c}-${i}`;
      const body = Buffer.from(JSON.stringify(w.tg.makeMessageUpdate({ chat_id: 2000 + c, text })));
      // The URL is read when the request goes out: the receiving process may have been replaced.
      list.push({
        get url() {
          return `${baseUrl()}/telegram/${CHANNEL_ID}`;
        },
        headers,
        body,
      });
      texts.push(text);
    }
    requests.push(list);
    expected.set(String(2000 + c), texts);
  }
  return { requests, expected };
}

/** Agent replies to /blinger/:channelId for client 3000+c. */
export function outboundLoad(baseUrl: () => string, conversations: number, perConversation: number, tag = 'out'): Load {
  const requests: Request[][] = [];
  const expected = new Map<string, string[]>();
  const headers = { authorization: `Bearer ${BLINGER_TOKEN}` };
  for (let c = 0; c < conversations; c++) {
    const list: Request[] = [];
    const texts: string[] = [];
    for (let i = 0; i < perConversation; i++) {
      const text = `${tag}${c}-${i}`;
      const body = Buffer.from(
        JSON.stringify({ token: BLINGER_TOKEN, custom_channel_id: CHANNEL_ID, client_id: String(3000 + c), type: 'text', data: text }),
      );
      list.push({
        get url() {
          return `${baseUrl()}/blinger/${CHANNEL_ID}`;
        },
        headers,
        body,
      });
      texts.push(text);
    }
    requests.push(list);
    expected.set(String(3000 + c), texts);
  }
  return { requests, expected };
}

export function inboundFigures(w: World, load: Load): Figures {
  return verify(
    load.expected,
    groupBy(
      w.blinger.received,
      (m) => m.client_id,
      (m) => m.data,
    ),
  );
}

export function outboundFigures(w: World, load: Load): Figures {
  return verify(
    load.expected,
    groupBy(
      w.tg.sent,
      (s) => s.chat_id,
      (s) => s.text ?? '',
    ),
  );
}

/** Resolves once every expected message arrived at least once (duplicates don't count). */
export async function untilAllArrived(w: World, direction: 'inbound' | 'outbound', load: Load, timeoutMs: number): Promise<void> {
  const want = new Set<string>();
  for (const list of load.expected.values()) for (const m of list) want.add(m);
  const seen = new Set<string>();
  let scanned = 0;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const arrived = direction === 'inbound' ? w.blinger.received.map((m) => m.data) : w.tg.sent.map((s) => s.text ?? '');
    for (; scanned < arrived.length; scanned++) if (want.has(arrived[scanned]!)) seen.add(arrived[scanned]!);
    if (seen.size === want.size) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`${direction}: ${want.size - seen.size} of ${want.size} messages never arrived within ${timeoutMs} ms`);
    // Wake on the next arrival (event-driven, no sleeping).
    const next = arrived.length + 1;
    await (direction === 'inbound' ? w.blinger.waitFor(next, left) : w.tg.waitForSent(next, left)).catch(() => undefined);
  }
}

/**
 * Every copy of a test message the doubles received, inbound then outbound, each in arrival order,
 * named by its lane as the bridge's logs name it ("inbound chaos|2017").
 */
export function copies(w: World): Copy[] {
  const lane = (direction: string, base: number, text: string) =>
    `${direction} ${CHANNEL_ID}|${base + Number(/(\d+)-\d+$/.exec(text)?.[1])}`;
  return [
    ...w.blinger.received.map((m) => ({ text: m.data, lane: lane('inbound', 2000, m.data), at: m.at })),
    ...w.tg.sent.map((s) => ({ text: s.text ?? '', lane: lane('outbound', 3000, s.text ?? ''), at: s.at })),
  ];
}

/**
 * Timed-out attempts that reached a double, per lane: the bridge's logged timeouts less the
 * requests the doubles held on purpose (those never arrived, yet the bridge timed out on them).
 */
export function timeoutsThatArrived(w: World): Map<string, number> {
  const left = new Map(w.timeoutsByLane);
  const held = [
    ...w.blinger.hung.map((b) => `inbound ${CHANNEL_ID}|${(b as { client_id?: unknown }).client_id}`),
    ...w.tg.calls
      .filter((c) => c.method === 'sendMessage' && c.status === undefined)
      .map((c) => `outbound ${CHANNEL_ID}|${String(c.params.chat_id)}`),
  ];
  for (const lane of held) left.set(lane, (left.get(lane) ?? 0) - 1);
  return left;
}

/** Sum of several directions' figures. */
export function addFigures(...list: Figures[]): Figures {
  const out = noFigures();
  for (const f of list) {
    out.sent += f.sent;
    out.delivered += f.delivered;
    out.lost += f.lost;
    out.duplicates += f.duplicates;
    out.orderViolations += f.orderViolations;
    out.nonAdjacentDuplicates += f.nonAdjacentDuplicates;
    out.maxDuplicatesPerConversation = Math.max(out.maxDuplicatesPerConversation, f.maxDuplicatesPerConversation);
  }
  return out;
}
