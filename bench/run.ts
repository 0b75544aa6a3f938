/**
 * `npm run bench`: the benchmarks of docs/architecture.md, "Benchmarks and chaos tests", on loopback, in one run.
 *
 *   node --import tsx bench/run.ts [--reps 3] [--quick] [--only inbound,outbound,...]
 *                                  [--profile] [--log-level info] [--out bench/results/latest.md]
 *
 * Scenarios (each repeated --reps times; medians are reported):
 *   inbound   Telegram webhook POSTs → bridge → Blinger double (answers at once)
 *   outbound  Blinger webhook POSTs → bridge → Telegram double (no limits enforced)
 *   ceiling   raw BullMQ on the same Redis: queue.add → Worker (concurrency 50) → axios POST,
 *             to the same doubles, each way (also with the same webhook load in front)
 *   naive     a direct POST per message, no queue
 *   latency   a fixed offered load of 1,000 msg/s: webhook acknowledgement and end-to-end p50/p99
 *   pacing    3,000 replies over 300 chats against a Telegram double enforcing Telegram's limits
 *   memory    100,000 messages queued: Redis bytes per message; a worker draining them: its RSS
 *
 * Every subject runs alone in a child process (the bridge as deployed: node bin/blinger-bridge.js
 * start); the load generator and the doubles run in this process; Redis is a throwaway
 * redis-server on a free port. Everything binds to 127.0.0.1.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startTelegramDouble, DEFAULT_BOT, type TelegramDouble } from '../test/doubles/telegram-api.js';
import { startBlingerDouble, type BlingerDouble } from '../test/doubles/blinger.js';
import { deriveWebhookSecret } from '../adapters/telegram/settings.js';
import { groupBy, verify, type Figures } from '../test/chaos/support/verify.js';
import { closedLoop, LoadClient, openLoop, pause, type Request } from './lib/load.js';
import { cpuOf, machineCpu, ROOT, startBridge, startRedis, startScript, WORK_DIR, type RedisServer, type Subject } from './lib/procs.js';
import { describeMachine, type Machine } from './lib/machine.js';
import { fmtInt, fmtMB, fmtMs, fmtPct, median, percentile } from './lib/stats.js';

const { values: argv } = parseArgs({
  options: {
    reps: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'log-level': { type: 'string', default: 'info' },
    out: { type: 'string' },
  },
});

const quick = argv.quick === true;
const P = {
  reps: Number(argv.reps ?? (quick ? 1 : 3)),
  conversations: 50,
  messages: quick ? 5_000 : 20_000,
  warmup: 1_000,
  latencyRate: 1_000,
  latencyMessages: quick ? 3_000 : 10_000,
  latencyWarmup: quick ? 1_000 : 3_000,
  pacingReplies: quick ? 600 : 3_000,
  pacingChats: quick ? 60 : 300,
  backlog: quick ? 20_000 : 100_000,
  logLevel: argv['log-level'] ?? 'info',
};
const SCENARIOS = ['inbound', 'outbound', 'ceiling', 'naive', 'latency', 'pacing', 'memory'] as const;
type Scenario = (typeof SCENARIOS)[number];
const only = new Set((argv.only ?? SCENARIOS.join(',')).split(',').map((s) => s.trim()) as Scenario[]);
for (const s of only) if (!SCENARIOS.includes(s)) throw new Error(`--only: unknown scenario "${s}" (known: ${SCENARIOS.join(', ')})`);
const OUT = argv.out ?? join(ROOT, 'bench/results/latest.md');
const PROFILE_DIR = argv.profile ? join(ROOT, 'bench/results/profiles') : undefined;
if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });

const CHANNEL_ID = 'bench';
const BLINGER_TOKEN = 'bench-blinger-token-0123456789';
const BOT_TOKEN = DEFAULT_BOT.token;
const SECRET = deriveWebhookSecret(BOT_TOKEN);
/** Limits the Telegram double does not enforce in the throughput runs, so the bridge must not pace either. */
const NO_LIMITS = {
  bot: { max: 1_000_000, windowMs: 1000 },
  privateChat: { max: 1_000_000, windowMs: 1000 },
  group: { max: 1_000_000, windowMs: 1000 },
};
/** Whole-run deadline: the benchmark stops by itself. */
const DEADLINE = Date.now() + 45 * 60_000;

if (!existsSync(join(ROOT, 'dist/src/cli/main.js'))) {
  console.error('bench: dist/ is missing; run "npm run build" first (npm run bench does)');
  process.exit(2);
}

// ------------------------------------------------------------------------------------ world

let redis: RedisServer;
let tg: TelegramDouble;
let tgLimited: TelegramDouble;
let blinger: BlingerDouble;
const client = new LoadClient(512);
let prefixSeq = 0;

async function clean(): Promise<void> {
  await redis.client.flushall();
  blinger.reset();
  tg.reset();
  tgLimited.reset();
}

function checkDeadline(): void {
  if (Date.now() > DEADLINE) throw new Error('bench: the whole-run deadline passed');
}

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

// ------------------------------------------------------------------------------ load shapes

type Direction = 'inbound' | 'outbound';

interface Load {
  /** requests[c] in order, for the closed loop. */
  requests: Request[][];
  /** Conversation id → its texts in order, for verification. */
  expected: Map<string, string[]>;
}

/** Telegram webhook updates: conversation c is chat 1000+c, its i-th text is "<tag>c-i". */
function inboundLoad(baseUrl: string, conversations: number, perConversation: number, tag: string): Load {
  const requests: Request[][] = [];
  const expected = new Map<string, string[]>();
  const url = `${baseUrl}/telegram/${CHANNEL_ID}`;
  const headers = { 'x-telegram-bot-api-secret-token': SECRET };
  for (let c = 0; c < conversations; c++) {
    const list: Request[] = [];
    const texts: string[] = [];
    for (let i = 0; i < perConversation; i++) {
      const text = `${tag}${c}-${i}`;
      list.push({ url, headers, body: Buffer.from(JSON.stringify(tg.makeMessageUpdate({ chat_id: 1000 + c, text }))) });
      texts.push(text);
    }
    requests.push(list);
    expected.set(String(1000 + c), texts);
  }
  return { requests, expected };
}

/** Blinger agent replies to /blinger/:channelId for client 1000+c. */
function outboundLoad(baseUrl: string, conversations: number, perConversation: number, tag: string): Load {
  const requests: Request[][] = [];
  const expected = new Map<string, string[]>();
  const url = `${baseUrl}/blinger/${CHANNEL_ID}`;
  const headers = { authorization: `Bearer ${BLINGER_TOKEN}` };
  for (let c = 0; c < conversations; c++) {
    const list: Request[] = [];
    const texts: string[] = [];
    for (let i = 0; i < perConversation; i++) {
      const text = `${tag}${c}-${i}`;
      list.push({
        url,
        headers,
        body: Buffer.from(
          JSON.stringify({ token: BLINGER_TOKEN, custom_channel_id: CHANNEL_ID, client_id: String(1000 + c), type: 'text', data: text }),
        ),
      });
      texts.push(text);
    }
    requests.push(list);
    expected.set(String(1000 + c), texts);
  }
  return { requests, expected };
}

function load(direction: Direction, baseUrl: string, perConversation: number, tag: string, conversations = P.conversations): Load {
  return direction === 'inbound'
    ? inboundLoad(baseUrl, conversations, perConversation, tag)
    : outboundLoad(baseUrl, conversations, perConversation, tag);
}

function waitDelivered(direction: Direction, count: number, timeoutMs: number): Promise<unknown> {
  return direction === 'inbound' ? blinger.waitFor(count, timeoutMs) : tg.waitForSent(count, timeoutMs);
}

function arrivals(direction: Direction): Map<string, string[]> {
  return direction === 'inbound'
    ? groupBy(
        blinger.received,
        (m) => m.client_id,
        (m) => m.data,
      )
    : groupBy(
        tg.sent,
        (s) => s.chat_id,
        (s) => s.text ?? '',
      );
}

/** Extra node options for the bridge in the "capped heap" runs of the memory scenario. */
let bridgeNodeArgs: string[] = process.env.BENCH_BRIDGE_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
const HEAP_CAP = '--max-old-space-size=128';

function bridgeFor(
  direction: Direction,
  extra: { role?: 'all' | 'ingress' | 'worker'; prefix?: string; limited?: boolean } = {},
): Promise<Subject> {
  const telegram = extra.limited ? tgLimited : tg;
  return startBridge({
    redisUrl: redis.url,
    prefix: extra.prefix ?? `bb${++prefixSeq}`,
    channelId: CHANNEL_ID,
    blinger: { url: blinger.url, token: BLINGER_TOKEN },
    telegram: {
      token: BOT_TOKEN,
      apiRoot: telegram.apiRoot,
      ...(extra.limited ? {} : { limits: direction === 'outbound' ? NO_LIMITS : undefined }),
    },
    role: extra.role ?? 'all',
    logLevel: P.logLevel,
    cpuProfileDir: PROFILE_DIR,
    nodeArgs: bridgeNodeArgs,
  });
}

/** Sends a warm-up load (JIT, connection pools) and waits until it was delivered, then forgets it. */
async function warmUp(direction: Direction, baseUrl: string, path?: string): Promise<void> {
  const w = load(direction, baseUrl, P.warmup / P.conversations, 'w');
  if (path) for (const list of w.requests) for (const r of list) r.url = `${baseUrl}${path}`;
  await closedLoop({ client, requests: w.requests, deadlineMs: 120_000 });
  await waitDelivered(direction, P.warmup, 120_000);
  blinger.reset();
  tg.reset();
}

// -------------------------------------------------------------------------------- scenarios

interface CpuUse {
  /** CPU ms used during the measured window by the subject, Redis and this process (generator + doubles). */
  subject: number;
  redis: number;
  bench: number;
  /** Everything else the machine ran meanwhile (other processes: a busy machine skews figures). */
  other: number;
  wall: number;
}

function cpuMeter(pid: number): () => CpuUse {
  const t0 = performance.now();
  const s0 = cpuOf(pid);
  const r0 = cpuOf(redis.proc.pid!);
  const b0 = process.cpuUsage();
  const m0 = machineCpu();
  return () => {
    const b = process.cpuUsage(b0);
    const used = { subject: cpuOf(pid) - s0, redis: cpuOf(redis.proc.pid!) - r0, bench: (b.user + b.system) / 1000 };
    return { ...used, other: Math.max(0, machineCpu() - m0 - used.subject - used.redis - used.bench), wall: performance.now() - t0 };
  };
}

interface ThroughputRun {
  cpu?: CpuUse;
  msgPerS: number;
  peakRss: number;
  ackP50: number;
  ackP99: number;
  figures?: Figures;
}

async function throughputBridge(direction: Direction): Promise<ThroughputRun> {
  await clean();
  const bridge = await bridgeFor(direction);
  try {
    await warmUp(direction, bridge.url);
    const l = load(direction, bridge.url, P.messages / P.conversations, 'm');
    const cpu = cpuMeter(bridge.pid);
    const run = await closedLoop({ client, requests: l.requests, deadlineMs: 300_000 });
    await waitDelivered(direction, P.messages, 300_000);
    const end = performance.now();
    const used = cpu();
    const figures = verify(l.expected, arrivals(direction));
    return {
      cpu: used,
      msgPerS: (P.messages / (end - run.startedAt)) * 1000,
      peakRss: bridge.peakRss(),
      ackP50: percentile(run.acks, 50),
      ackP99: percentile(run.acks, 99),
      figures,
    };
  } finally {
    await bridge.stop();
  }
}

function targetOf(direction: Direction): Record<string, string> {
  return direction === 'inbound'
    ? {
        BENCH_KIND: 'inbound',
        BENCH_TARGET_URL: blinger.url,
        BENCH_TARGET_AUTH: BLINGER_TOKEN,
        BENCH_BLINGER_TOKEN: BLINGER_TOKEN,
        BENCH_CHANNEL_ID: CHANNEL_ID,
      }
    : { BENCH_KIND: 'outbound', BENCH_TARGET_URL: `${tg.apiRoot}/bot${BOT_TOKEN}/sendMessage`, BENCH_TARGET_AUTH: '' };
}

/** Raw BullMQ. mode direct: the child adds the jobs itself; http: the same webhook load as the bridge. */
async function throughputCeiling(direction: Direction, mode: 'direct' | 'http'): Promise<ThroughputRun> {
  await clean();
  const ceiling = await startScript('ceiling.ts', {
    ...targetOf(direction),
    BENCH_REDIS_URL: redis.url,
    BENCH_PREFIX: `ceil${++prefixSeq}`,
    BENCH_MODE: mode,
    BENCH_CONCURRENCY: '50',
  });
  try {
    const run = async (conversations: number, perConversation: number, tag: string) => {
      if (mode === 'direct') {
        const started = performance.now();
        const body = Buffer.from(JSON.stringify({ conversations, perConversation }));
        const res = await client.post({ url: `${ceiling.url}/run`, body, headers: {} }, 300_000);
        if (res.status !== 200) throw new Error(`ceiling /run answered ${res.status}: ${res.body}`);
        return { started, acks: [] as number[] };
      }
      const l = load(direction, ceiling.url, perConversation, tag, conversations);
      const r = await closedLoop({ client, requests: l.requests, deadlineMs: 300_000 });
      return { started: r.startedAt, acks: r.acks };
    };
    await run(P.conversations, P.warmup / P.conversations, 'w');
    await waitDelivered(direction, P.warmup, 120_000);
    blinger.reset();
    tg.reset();
    const cpu = cpuMeter(ceiling.pid);
    const r = await run(P.conversations, P.messages / P.conversations, 'm');
    await waitDelivered(direction, P.messages, 300_000);
    const end = performance.now();
    return {
      cpu: cpu(),
      msgPerS: (P.messages / (end - r.started)) * 1000,
      peakRss: ceiling.peakRss(),
      ackP50: percentile(r.acks, 50),
      ackP99: percentile(r.acks, 99),
    };
  } finally {
    await ceiling.stop();
  }
}

async function throughputNaive(direction: Direction): Promise<ThroughputRun> {
  await clean();
  const naive = await startScript('naive.ts', targetOf(direction));
  try {
    await warmUp(direction, naive.url, '/in');
    const l = load(direction, naive.url, P.messages / P.conversations, 'm');
    for (const list of l.requests) for (const r of list) r.url = `${naive.url}/in`;
    const cpu = cpuMeter(naive.pid);
    const run = await closedLoop({ client, requests: l.requests, deadlineMs: 300_000 });
    await waitDelivered(direction, P.messages, 60_000);
    const end = performance.now();
    const used = cpu();
    const figures = verify(l.expected, arrivals(direction));
    return {
      cpu: used,
      msgPerS: (P.messages / (end - run.startedAt)) * 1000,
      peakRss: naive.peakRss(),
      ackP50: percentile(run.acks, 50),
      ackP99: percentile(run.acks, 99),
      figures,
    };
  } finally {
    await naive.stop();
  }
}

interface LatencyRun {
  ackP50: number;
  ackP99: number;
  e2eP50: number;
  e2eP99: number;
  /** Bridge GC during the measured window: pause count and total ms, by kind. */
  gc: Record<string, { count: number; ms: number }>;
  /** This process's (load generator + doubles) event-loop delay p99, ms. */
  generatorLagP99: number;
  cpu: CpuUse;
  failures: number;
  peakRss: number;
  figures: Figures;
}

/** Open loop at a fixed rate; end-to-end = from the webhook POST leaving to the double accepting it. */
async function latencyBridge(direction: Direction): Promise<LatencyRun> {
  await clean();
  const bridge = await bridgeFor(direction);
  try {
    await warmUp(direction, bridge.url);
    // Interleave the conversations: message k goes to conversation k mod 50.
    const interleave = (l: Load, tag: string) => {
      const perConversation = l.requests[0]!.length;
      const sequence: { conversation: number; request: Request }[] = [];
      const keys: string[] = [];
      for (let i = 0; i < perConversation; i++) {
        for (let c = 0; c < P.conversations; c++) {
          sequence.push({ conversation: c, request: l.requests[c]![i]! });
          keys.push(`${tag}${c}-${i}`);
        }
      }
      return { sequence, keys };
    };
    // Then the same open loop for a while, unmeasured: latency is reported for the steady state.
    const warm = interleave(load(direction, bridge.url, Math.ceil(P.latencyWarmup / P.conversations), 'v'), 'v');
    await openLoop(client, warm.sequence, P.latencyRate);
    await waitDelivered(direction, warm.sequence.length, 120_000);
    blinger.reset();
    tg.reset();

    const perConversation = Math.ceil(P.latencyMessages / P.conversations);
    const l = load(direction, bridge.url, perConversation, 'l');
    const { sequence, keys: keyOf } = interleave(l, 'l');
    const index = new Map(keyOf.map((k, i) => [k, i]));
    const arrivedAt = new Float64Array(sequence.length).fill(Number.NaN);
    // Timestamps each acceptance as it happens: the k-th wait resolves on the double's k-th accept.
    const track = (async () => {
      for (let k = 1; k <= sequence.length; k++) {
        await waitDelivered(direction, k, 120_000);
        const key = direction === 'inbound' ? blinger.received[k - 1]!.data : tg.sent[k - 1]!.text!;
        const i = index.get(key);
        if (i !== undefined && Number.isNaN(arrivedAt[i]!)) arrivedAt[i] = performance.now();
      }
    })();
    const gcBefore = await gcStats(bridge.url);
    const lag = monitorEventLoopDelay({ resolution: 1 });
    lag.enable();
    const cpu = cpuMeter(bridge.pid);
    const run = await openLoop(client, sequence, P.latencyRate);
    await track;
    const cpuUsed = cpu();
    lag.disable();
    const gcAfter = await gcStats(bridge.url);
    const gc: LatencyRun['gc'] = {};
    for (const [kind, a] of Object.entries(gcAfter))
      gc[kind] = { count: a.count - (gcBefore[kind]?.count ?? 0), ms: a.ms - (gcBefore[kind]?.ms ?? 0) };
    const e2e: number[] = [];
    for (let i = 0; i < sequence.length; i++) e2e.push(arrivedAt[i]! - run.dueAt[i]!);
    if (process.env.BENCH_DUMP) {
      // Per-message timings for offline analysis: [due ms from start, ack ms, end-to-end ms].
      const rows = Array.from({ length: sequence.length }, (_, i) => [
        Math.round(run.dueAt[i]! - run.startedAt),
        +run.ackOf[i]!.toFixed(2),
        +e2e[i]!.toFixed(2),
      ]);
      writeFileSync(join(WORK_DIR, `latency-${direction}-${Date.now()}.json`), JSON.stringify(rows));
    }
    return {
      ackP50: percentile(run.acks, 50),
      ackP99: percentile(run.acks, 99),
      e2eP50: percentile(e2e, 50),
      e2eP99: percentile(e2e, 99),
      gc,
      generatorLagP99: lag.percentile(99) / 1e6,
      cpu: cpuUsed,
      failures: run.failures,
      peakRss: bridge.peakRss(),
      figures: verify(l.expected, arrivals(direction)),
    };
  } finally {
    await bridge.stop();
  }
}

/** The bridge's GC pauses so far (prom-client's nodejs_gc_duration_seconds), by kind. */
async function gcStats(baseUrl: string): Promise<Record<string, { count: number; ms: number }>> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const out: Record<string, { count: number; ms: number }> = {};
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_(sum|count)\{kind="(\w+)"\} (\S+)$/gm)) {
    const e = (out[m[2]!] ??= { count: 0, ms: 0 });
    if (m[1] === 'sum') e.ms = Number(m[3]) * 1000;
    else e.count = Number(m[3]);
  }
  return out;
}

interface PacingRun {
  /** Over the middle 90 % of the sends (the pacer's steady state, without ramp-up and tail). */
  sustained: number;
  /** (n − 1) / (first → last send): includes the first second and the last chats' tail. */
  overall: number;
  tooMany: number;
  seconds: number;
  figures: Figures;
}

async function pacing(): Promise<PacingRun> {
  await clean();
  const bridge = await bridgeFor('outbound', { limited: true });
  try {
    // Warm the bridge's connections to the double first: the very first burst after a start
    // rides on new connections whose latency exceeds the pacer's 25 ms margin (see the note).
    const warm = outboundLoad(bridge.url, 30, 1, 'w');
    await closedLoop({ client, requests: warm.requests, deadlineMs: 60_000 });
    await tgLimited.waitForSent(30, 30_000);
    await pause(1100); // the warm-up's sends leave Telegram's one-second window
    tgLimited.reset();

    const per = P.pacingReplies / P.pacingChats;
    const l = outboundLoad(bridge.url, P.pacingChats, per, 'p');
    await closedLoop({ client, requests: l.requests, deadlineMs: 120_000 });
    const expectedSeconds = P.pacingReplies / 29;
    await tgLimited.waitForSent(P.pacingReplies, (expectedSeconds * 2 + 60) * 1000);
    const times = tgLimited.sent.map((s) => s.at).sort((a, b) => a - b);
    const first = times[0]!;
    const last = times[times.length - 1]!;
    const lo = Math.floor(times.length * 0.05);
    const hi = Math.floor(times.length * 0.95);
    return {
      sustained: ((hi - lo) / (times[hi]! - times[lo]!)) * 1000,
      overall: ((times.length - 1) / (last - first)) * 1000,
      tooMany: tgLimited.stats.tooManyRequests,
      seconds: (last - first) / 1000,
      figures: verify(
        l.expected,
        groupBy(
          tgLimited.sent,
          (s) => s.chat_id,
          (s) => s.text ?? '',
        ),
      ),
    };
  } finally {
    await bridge.stop();
  }
}

interface MemoryRun {
  bytesPerMessage: number;
  laneBytesPerMessage: number;
  dedupeBytesPerMessage: number;
  ingestMsgPerS: number;
  drainMsgPerS: number;
  workerPeakRss: number;
  ingressPeakRss: number;
  bullmqBytesPerJob: number;
}

async function usedMemory(): Promise<number> {
  const info = await redis.client.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1]);
}

async function sumMemoryUsage(pattern: string): Promise<{ bytes: number; keys: number }> {
  let cursor = '0';
  let bytes = 0;
  let keys = 0;
  do {
    const [next, batch] = await redis.client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    const pipe = redis.client.pipeline();
    for (const k of batch) pipe.memory('USAGE', k, 'SAMPLES', '0');
    for (const [, v] of (await pipe.exec()) ?? []) bytes += Number(v ?? 0);
    keys += batch.length;
  } while (cursor !== '0');
  return { bytes, keys };
}

/** 100,000 messages queued with no worker running: Redis bytes per message; then a worker drains them. */
async function memory(): Promise<MemoryRun> {
  await clean();
  const prefix = `bbmem${++prefixSeq}`;
  const ingress = await bridgeFor('inbound', { role: 'ingress', prefix });
  let worker: Subject | undefined;
  try {
    const before = await usedMemory();
    const per = P.backlog / P.conversations;
    // Built in slices so the generator's own memory stays flat.
    const started = performance.now();
    const slice = 200;
    for (let from = 0; from < per; from += slice) {
      checkDeadline();
      const l = inboundLoad(ingress.url, P.conversations, Math.min(slice, per - from), `q${from}-`);
      await closedLoop({ client, requests: l.requests, deadlineMs: 300_000 });
    }
    const ingestMsgPerS = (P.backlog / (performance.now() - started)) * 1000;
    const after = await usedMemory();
    const lanes = await sumMemoryUsage(`${prefix}:lane:*`);
    const seen = await sumMemoryUsage(`${prefix}:seen:*`);
    const ingressPeakRss = ingress.peakRss();
    await ingress.stop();

    worker = await bridgeFor('inbound', { role: 'worker', prefix });
    const drainStart = performance.now();
    await blinger.waitFor(P.backlog, 600_000);
    const drainMsgPerS = (P.backlog / (performance.now() - drainStart)) * 1000;
    const workerPeakRss = worker.peakRss();
    await worker.stop();
    worker = undefined;

    // The same number of raw BullMQ jobs, for comparison.
    await clean();
    const ceiling = await startScript('ceiling.ts', {
      ...targetOf('inbound'),
      BENCH_REDIS_URL: redis.url,
      BENCH_PREFIX: `ceilmem${++prefixSeq}`,
      BENCH_MODE: 'direct',
      BENCH_WORKER: '0',
    });
    let bullmqBytesPerJob = Number.NaN;
    try {
      const b = await usedMemory();
      const res = await client.post(
        { url: `${ceiling.url}/fill`, body: Buffer.from(JSON.stringify({ count: P.backlog })), headers: {} },
        300_000,
      );
      if (res.status !== 200) throw new Error(`ceiling /fill answered ${res.status}`);
      bullmqBytesPerJob = ((await usedMemory()) - b) / P.backlog;
    } finally {
      await ceiling.stop();
    }
    return {
      bytesPerMessage: (after - before) / P.backlog,
      laneBytesPerMessage: lanes.bytes / P.backlog,
      dedupeBytesPerMessage: seen.bytes / P.backlog,
      ingestMsgPerS,
      drainMsgPerS,
      workerPeakRss,
      ingressPeakRss,
      bullmqBytesPerJob,
    };
  } finally {
    await ingress.stop();
    await worker?.stop();
  }
}

// ------------------------------------------------------------------------------- reporting

interface Row {
  measure: string;
  value: string;
  runs: string;
  target: string;
  verdict: string;
}

const rows: Row[] = [];
const notes: string[] = [];

/** A table row: the median of the runs (or their largest, for peaks), each run, the target. */
function row(
  measure: string,
  values: number[],
  fmt: (n: number) => string,
  target = '',
  ok?: (m: number) => boolean,
  aggregate: (v: number[]) => number = median,
): number {
  const m = aggregate(values);
  rows.push({ measure, value: fmt(m), runs: values.map(fmt).join(' / '), target, verdict: ok ? (ok(m) ? 'met' : '**missed**') : '' });
  return m;
}

function figuresSummary(name: string, figs: (Figures | undefined)[]): void {
  const f = figs.filter((x): x is Figures => x !== undefined);
  if (f.length === 0) return;
  const sum = (k: keyof Figures) => f.reduce((a, x) => a + x[k], 0);
  const bad = sum('lost') + sum('orderViolations');
  notes.push(
    `${name}: ${sum('sent')} sent, ${sum('delivered')} delivered, ${sum('lost')} lost, ${sum('duplicates')} duplicates, ${sum('orderViolations')} order violations over ${f.length} run(s)${bad ? ' — **FAILED**' : ''}`,
  );
}

function table(): string {
  const head = ['measure', 'median (peaks: largest)', `runs (${P.reps} each)`, 'target', ''];
  const lines = [head, ...rows.map((r) => [r.measure, r.value, r.runs, r.target, r.verdict])];
  const widths = head.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  const fmtLine = (l: string[]) => `| ${l.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [fmtLine(lines[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.slice(1).map(fmtLine)].join('\n');
}

function markdown(machine: Machine, startedAt: Date, seconds: number): string {
  return `# Benchmark results

Generated by \`npm run bench\`${process.argv.length > 2 ? ` (\`${process.argv.slice(2).join(' ')}\`)` : ''} on ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC in ${Math.round(seconds / 60)} min. Medians of ${P.reps} repetition(s); every run of every subject starts a fresh process on a flushed Redis.

## Machine

| | |
|---|---|
| CPU | ${machine.cpu}, ${machine.cores} cores |
| memory | ${machine.memory} |
| OS | ${machine.os} |
| Node.js | ${machine.node} |
| Redis | ${machine.redis} (throwaway \`redis-server\`, no persistence, \`noeviction\`) |
| load average at start | ${machine.loadAtStart} |

All of it shares those ${machine.cores} cores: the load generator and both doubles (one Node.js process), the subject under test (one Node.js process: the bridge, the raw-BullMQ ceiling or the naive forwarder) and Redis. Figures on a machine where these have cores of their own will be higher.

## Results

${table()}

What bounds these figures, and what was changed to reach them: README.md, section "Benchmarks".

## Checks

${notes.map((n) => `- ${n}`).join('\n')}

## Method

- **Inbound**: ${fmtInt(P.messages)} Telegram updates over ${P.conversations} private chats, POSTed to \`/telegram/:channelId\` by one sender per chat (the next update only after the previous one was acknowledged, as Telegram does per chat — ordering on); the bridge delivers to the Blinger double, which answers at once. msg/s = messages / (first POST → last message accepted by the double), after a ${fmtInt(P.warmup)}-message warm-up.
- **Outbound**: the same volume of agent replies POSTed to \`/blinger/:channelId\`; the bridge sends them to the Telegram double with no limits (the bridge's own pacing raised to match, but still run for every message).
- **Ceiling**: raw BullMQ on the same Redis — \`queue.add\` (one job per message, one sequential producer per conversation, in the subject's own process) → \`Worker\` (concurrency 50) → axios POST (keep-alive) of the same body to the same double. No order, no dedupe, no validation, no pacing. "Ceiling with webhooks" puts the same webhook POSTs as the bridge gets in front of \`queue.add\`, so it differs from the bridge only in what happens between the two HTTP hops.
- **Naive**: an HTTP server that forwards each webhook POST with one axios POST before answering. No queue: nothing is durable and nothing is retried.
- **Latency**: an open loop offering ${fmtInt(P.latencyRate)} msg/s (${fmtInt(P.latencyMessages)} messages round-robin over ${P.conversations} chats, sent on a 1 ms tick whatever the answers; a chat's next message waits for the previous answer, and latencies count from when a message was due), after ${fmtInt(P.latencyWarmup)} unmeasured messages at the same rate. Acknowledgement = webhook POST → HTTP 200; end-to-end = the same POST leaving → the double accepting the delivery (both clocks in the load generator's process).
- **Pacing**: ${fmtInt(P.pacingReplies)} replies over ${P.pacingChats} chats against a Telegram double enforcing 30 msg/s per bot and 3 per 3 s per chat, with the bridge's default limits (30 per 1,025 ms: at most 29.27 msg/s), after 30 warm-up replies; sustained msg/s = the middle 90 % of the sends over their time span; overall = (n − 1) / (first → last send), which includes the start and the tail where only a few chats, each held to ~1 msg/s, have replies left.
- **Memory**: RSS is the peak resident set (VmHWM) of the bridge process under the throughput and latency loads (and once more for outbound with \`node ${HEAP_CAP}\`). Then ${fmtInt(P.backlog)} updates are queued through an ingress-only bridge (no worker): Redis \`used_memory\` growth per message (lane entries, the 24 h \`update_id\` dedupe marks, the ${P.conversations} lane jobs); then a worker-only bridge drains that backlog and its peak RSS is recorded. Raw BullMQ's bytes per job (the same bodies, \`addBulk\`) for comparison.
- The bridge runs as deployed (\`node bin/blinger-bridge.js start\`, compiled, configured through the environment and a \`BRIDGE_CONFIG\` file) with \`LOG_LEVEL=${P.logLevel}\` written to a file, and production defaults otherwise (\`WORKER_CONCURRENCY=50\`).
`;
}

// ------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const startedAt = new Date();
  redis = await startRedis();
  tg = await startTelegramDouble({ seed: 1 });
  tgLimited = await startTelegramDouble({ seed: 2, enforceLimits: true });
  blinger = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: CHANNEL_ID, seed: 3 });
  const machine = await describeMachine(redis.client);
  log(`bench: ${P.reps} repetition(s), ${fmtInt(P.messages)} messages per throughput run; work dir ${WORK_DIR}`);
  try {
    const reps = <T>(name: string, fn: () => Promise<T>) =>
      (async () => {
        const out: T[] = [];
        for (let i = 0; i < P.reps; i++) {
          checkDeadline();
          const r = await fn();
          log(
            `${name} ${i + 1}/${P.reps}: ${JSON.stringify(r, (k, v) => (typeof v === 'number' ? Math.round(v * 100) / 100 : k === 'figures' ? undefined : v))}`,
          );
          out.push(r);
        }
        return out;
      })();

    let inbound: ThroughputRun[] = [];
    let outbound: ThroughputRun[] = [];
    let ceilIn: ThroughputRun[] = [];
    let ceilOut: ThroughputRun[] = [];
    let ceilHttpIn: ThroughputRun[] = [];
    let ceilHttpOut: ThroughputRun[] = [];
    let naiveIn: ThroughputRun[] = [];
    let naiveOut: ThroughputRun[] = [];
    let latIn: LatencyRun[] = [];
    let latOut: LatencyRun[] = [];
    let pace: PacingRun[] = [];
    let mem: MemoryRun[] = [];
    // Interleaved per repetition would mix warm caches; each scenario's runs are back to back.
    if (only.has('inbound')) inbound = await reps('inbound', () => throughputBridge('inbound'));
    if (only.has('ceiling')) ceilIn = await reps('ceiling inbound', () => throughputCeiling('inbound', 'direct'));
    if (only.has('ceiling')) ceilHttpIn = await reps('ceiling inbound (webhooks)', () => throughputCeiling('inbound', 'http'));
    if (only.has('naive')) naiveIn = await reps('naive inbound', () => throughputNaive('inbound'));
    if (only.has('outbound')) outbound = await reps('outbound', () => throughputBridge('outbound'));
    if (only.has('ceiling')) ceilOut = await reps('ceiling outbound', () => throughputCeiling('outbound', 'direct'));
    if (only.has('ceiling')) ceilHttpOut = await reps('ceiling outbound (webhooks)', () => throughputCeiling('outbound', 'http'));
    if (only.has('naive')) naiveOut = await reps('naive outbound', () => throughputNaive('outbound'));
    if (only.has('latency')) latIn = await reps('latency inbound', () => latencyBridge('inbound'));
    if (only.has('latency')) latOut = await reps('latency outbound', () => latencyBridge('outbound'));
    if (only.has('pacing')) pace = await reps('pacing', () => pacing());
    if (only.has('memory')) mem = await reps('memory', () => memory());
    // The outbound runs once more with V8's old space capped (what README suggests to keep RSS down).
    let capped: { throughput: ThroughputRun; latency: LatencyRun } | undefined;
    if (only.has('memory')) {
      const before = bridgeNodeArgs;
      bridgeNodeArgs = [...before, HEAP_CAP];
      try {
        capped = { throughput: await throughputBridge('outbound'), latency: await latencyBridge('outbound') };
        log(
          `outbound with ${HEAP_CAP}: ${fmtInt(capped.throughput.msgPerS)} msg/s, peak RSS ${fmtMB(capped.throughput.peakRss)} / ${fmtMB(capped.latency.peakRss)}, ack p99 ${fmtMs(capped.latency.ackP99)} ms, end-to-end p99 ${fmtMs(capped.latency.e2eP99)} ms`,
        );
      } finally {
        bridgeNodeArgs = before;
      }
    }

    const msgs = (n: number) => `${fmtInt(n)} msg/s`;
    const ms = (n: number) => `${fmtMs(n)} ms`;
    const v = <T>(list: T[], f: (t: T) => number) => list.map(f);
    let inMedian = Number.NaN;
    let outMedian = Number.NaN;
    if (inbound.length)
      inMedian = row(
        'inbound msg/s (Telegram webhook → bridge → Blinger)',
        v(inbound, (r) => r.msgPerS),
        msgs,
      );
    if (outbound.length)
      outMedian = row(
        'outbound msg/s (Blinger webhook → bridge → Telegram)',
        v(outbound, (r) => r.msgPerS),
        msgs,
      );
    const ceilInMedian = ceilIn.length
      ? row(
          'ceiling inbound msg/s (raw BullMQ: add → Worker(50) → POST)',
          v(ceilIn, (r) => r.msgPerS),
          msgs,
        )
      : Number.NaN;
    const ceilOutMedian = ceilOut.length
      ? row(
          'ceiling outbound msg/s (raw BullMQ)',
          v(ceilOut, (r) => r.msgPerS),
          msgs,
        )
      : Number.NaN;
    const ceilHttpInMedian = ceilHttpIn.length
      ? row(
          'ceiling with webhooks, inbound msg/s',
          v(ceilHttpIn, (r) => r.msgPerS),
          msgs,
        )
      : Number.NaN;
    const ceilHttpOutMedian = ceilHttpOut.length
      ? row(
          'ceiling with webhooks, outbound msg/s',
          v(ceilHttpOut, (r) => r.msgPerS),
          msgs,
        )
      : Number.NaN;
    if (naiveIn.length)
      row(
        'naive inbound msg/s (direct POST, no queue)',
        v(naiveIn, (r) => r.msgPerS),
        msgs,
      );
    if (naiveOut.length)
      row(
        'naive outbound msg/s (direct POST, no queue)',
        v(naiveOut, (r) => r.msgPerS),
        msgs,
      );
    if (inbound.length && ceilIn.length) {
      const ratios = inbound.map((r) => r.msgPerS / ceilInMedian);
      row('inbound / ceiling', ratios, fmtPct, '≥ 85 %', (m) => m >= 0.85);
    }
    if (outbound.length && ceilOut.length)
      row(
        'outbound / ceiling',
        outbound.map((r) => r.msgPerS / ceilOutMedian),
        fmtPct,
      );
    if (inbound.length && ceilHttpIn.length)
      row(
        'inbound / ceiling with webhooks',
        inbound.map((r) => r.msgPerS / ceilHttpInMedian),
        fmtPct,
      );
    if (outbound.length && ceilHttpOut.length)
      row(
        'outbound / ceiling with webhooks',
        outbound.map((r) => r.msgPerS / ceilHttpOutMedian),
        fmtPct,
      );
    for (const [name, list] of [
      ['inbound', latIn],
      ['outbound', latOut],
    ] as const) {
      if (!list.length) continue;
      row(
        `${name} at ${fmtInt(P.latencyRate)} msg/s: ack p50`,
        v(list, (r) => r.ackP50),
        ms,
      );
      row(
        `${name} at ${fmtInt(P.latencyRate)} msg/s: ack p99`,
        v(list, (r) => r.ackP99),
        ms,
        '≤ 5 ms',
        (m) => m <= 5,
      );
      row(
        `${name} at ${fmtInt(P.latencyRate)} msg/s: end-to-end p50`,
        v(list, (r) => r.e2eP50),
        ms,
      );
      row(
        `${name} at ${fmtInt(P.latencyRate)} msg/s: end-to-end p99`,
        v(list, (r) => r.e2eP99),
        ms,
        '≤ 15 ms',
        (m) => m <= 15,
      );
      const failures = list.reduce((a, r) => a + r.failures, 0);
      const gcLine = (r: LatencyRun) =>
        Object.entries(r.gc)
          .filter(([, g]) => g.count > 0)
          .map(([k, g]) => `${k} ${g.count}× ${g.ms.toFixed(0)} ms`)
          .join(', ');
      notes.push(
        `latency ${name}: ${failures} requests not acknowledged; bridge GC in the measured ${fmtInt(P.latencyMessages / P.latencyRate)} s: ${list.map(gcLine).join(' / ')}; load generator's own event-loop delay p99 ${list.map((r) => `${r.generatorLagP99.toFixed(1)} ms`).join(' / ')}; bridge CPU per message ${list.map((r) => `${((r.cpu.subject / P.latencyMessages) * 1000).toFixed(0)} µs`).join(' / ')}; other processes on the machine ${list.map((r) => `${(r.cpu.other / r.cpu.wall).toFixed(2)}`).join(' / ')} cores`,
      );
    }
    const largest = (list: number[]) => Math.max(...list);
    const rssIn = [...inbound, ...latIn].map((r) => r.peakRss);
    const rssOut = [...outbound, ...latOut].map((r) => r.peakRss);
    if (rssIn.length)
      row('bridge peak RSS, inbound throughput + latency runs (largest)', rssIn, fmtMB, '≤ 150 MB', (m) => m <= 150 * 1024 * 1024, largest);
    if (rssOut.length)
      row(
        'bridge peak RSS, outbound throughput + latency runs (largest)',
        rssOut,
        fmtMB,
        '≤ 150 MB',
        (m) => m <= 150 * 1024 * 1024,
        largest,
      );
    if (capped) {
      row(
        `bridge peak RSS, outbound runs with node ${HEAP_CAP} (1 run each)`,
        [capped.throughput.peakRss, capped.latency.peakRss],
        fmtMB,
        '≤ 150 MB',
        (m) => m <= 150 * 1024 * 1024,
        largest,
      );
      notes.push(
        `outbound with node ${HEAP_CAP}: ${fmtInt(capped.throughput.msgPerS)} msg/s; at 1,000 msg/s ack p99 ${fmtMs(capped.latency.ackP99)} ms, end-to-end p99 ${fmtMs(capped.latency.e2eP99)} ms; GC ${Object.entries(
          capped.latency.gc,
        )
          .filter(([, g]) => g.count > 0)
          .map(([k, g]) => `${k} ${g.count}× ${g.ms.toFixed(0)} ms`)
          .join(', ')}`,
      );
    }
    if (mem.length) {
      row(
        `worker peak RSS draining ${fmtInt(P.backlog)} queued (largest)`,
        v(mem, (r) => r.workerPeakRss),
        fmtMB,
        '≤ 150 MB',
        (m) => m <= 150 * 1024 * 1024,
        largest,
      );
      row(
        'Redis bytes per queued message (all keys)',
        v(mem, (r) => r.bytesPerMessage),
        fmtInt,
      );
      row(
        '  of which the lane entry',
        v(mem, (r) => r.laneBytesPerMessage),
        fmtInt,
      );
      row(
        '  of which the update_id dedupe mark (kept 24 h)',
        v(mem, (r) => r.dedupeBytesPerMessage),
        fmtInt,
      );
      row(
        'raw BullMQ bytes per queued job (same body)',
        v(mem, (r) => r.bullmqBytesPerJob),
        fmtInt,
      );
      notes.push(
        `memory: ingest of ${fmtInt(P.backlog)} through an ingress-only bridge ${mem.map((r) => msgs(r.ingestMsgPerS)).join(' / ')} (ingress peak RSS ${mem.map((r) => fmtMB(r.ingressPeakRss)).join(' / ')}); drain by a worker-only bridge ${mem.map((r) => msgs(r.drainMsgPerS)).join(' / ')}`,
      );
    }
    if (pace.length) {
      row(
        "pacing: sustained msg/s against Telegram's 30/s per bot",
        v(pace, (r) => r.sustained),
        (n) => `${n.toFixed(2)} msg/s`,
        '≥ 29 msg/s',
        (m) => m >= 29,
      );
      row(
        "pacing: overall msg/s (with ramp-up and the last chats' tail)",
        v(pace, (r) => r.overall),
        (n) => `${n.toFixed(2)} msg/s`,
      );
      row(
        'pacing: 429 answers',
        v(pace, (r) => r.tooMany),
        fmtInt,
        '0',
        (m) => m === 0,
      );
      notes.push(`pacing: ${fmtInt(P.pacingReplies)} replies took ${pace.map((r) => `${r.seconds.toFixed(1)} s`).join(' / ')}`);
    }
    const cpuNote = (name: string, list: ThroughputRun[]) => {
      const runs = list.filter((r) => r.cpu);
      if (!runs.length) return;
      const per = (k: keyof CpuUse) => median(runs.map((r) => (r.cpu![k] / P.messages) * 1000));
      const busy = median(runs.map((r) => (r.cpu!.subject + r.cpu!.redis + r.cpu!.bench) / r.cpu!.wall));
      const other = median(runs.map((r) => r.cpu!.other / r.cpu!.wall));
      notes.push(
        `CPU per message, ${name}: subject ${per('subject').toFixed(0)} µs, Redis ${per('redis').toFixed(0)} µs, load generator + double ${per('bench').toFixed(0)} µs (together ${busy.toFixed(2)} of ${machine.cores} cores busy; other processes ${other.toFixed(2)} cores)`,
      );
    };
    cpuNote('bridge inbound', inbound);
    cpuNote('ceiling inbound', ceilIn);
    cpuNote('ceiling with webhooks inbound', ceilHttpIn);
    cpuNote('naive inbound', naiveIn);
    cpuNote('bridge outbound', outbound);
    cpuNote('ceiling outbound', ceilOut);
    cpuNote('ceiling with webhooks outbound', ceilHttpOut);
    cpuNote('naive outbound', naiveOut);
    figuresSummary(
      'inbound throughput runs',
      inbound.map((r) => r.figures),
    );
    figuresSummary(
      'outbound throughput runs',
      outbound.map((r) => r.figures),
    );
    figuresSummary(
      'naive runs (order only holds because each sender waits)',
      [...naiveIn, ...naiveOut].map((r) => r.figures),
    );
    figuresSummary(
      'latency runs',
      [...latIn, ...latOut].map((r) => r.figures),
    );
    figuresSummary(
      'pacing runs',
      pace.map((r) => r.figures),
    );
    void inMedian;
    void outMedian;

    const seconds = (Date.now() - startedAt.getTime()) / 1000;
    const md = markdown(machine, startedAt, seconds);
    process.stdout.write(`\n${table()}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
    writeFileSync(OUT, md);
    log(`written to ${OUT}`);
    const failed = notes.some((n) => n.includes('**FAILED**'));
    if (failed) process.exitCode = 1;
    // The subjects' logs and configs: kept when something failed (or on request), else removed.
    if (failed || process.env.BENCH_KEEP || process.env.BENCH_DUMP) log(`logs kept in ${WORK_DIR}`);
    else rmSync(WORK_DIR, { recursive: true, force: true });
  } finally {
    client.close();
    await Promise.all([tg.close(), tgLimited.close(), blinger.close()]);
    await redis.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  console.error(`bench: failed; the subjects' logs are in ${WORK_DIR}`);
  process.exit(1);
});
