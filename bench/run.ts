/**
 * `npm run bench`: the benchmarks of docs/architecture.md, "Benchmarks and chaos tests", on loopback, in one run.
 *
 *   node --import tsx bench/run.ts [--reps 3] [--quick] [--only inbound,outbound,...]
 *                                  [--profile] [--cpu-hog] [--latency-share 0.5] [--log-level info]
 *                                  [--out bench/results/latest.md]
 *
 * Scenarios (each repeated --reps times; medians are reported):
 *   inbound   Telegram webhook POSTs → bridge → Blinger double (answers at once)
 *   outbound  Blinger webhook POSTs → bridge → Telegram double (no limits enforced)
 *   ceiling   raw BullMQ on the same Redis: queue.add → Worker (concurrency 50) → axios POST,
 *             to the same doubles, each way (also with the same webhook load in front)
 *   naive     a direct POST per message, no queue
 *   latency   an open loop at 50 % (--latency-share) of this run's ceiling, and at 1,000 msg/s for
 *             comparison: webhook acknowledgement and end-to-end p50/p99; raw BullMQ with the same
 *             webhooks under the same open loop, and this machine's floor at the same rate (a server
 *             that answers at once; the naive forwarder), for comparison
 *   pacing    3,000 replies over 300 chats against a Telegram double enforcing Telegram's limits
 *   memory    100,000 messages queued: Redis bytes per message; a worker draining them: its RSS
 *
 * Every subject runs alone in a child process (the bridge as deployed: node bin/blinger-bridge.js
 * start, with the Docker image's NODE_OPTIONS); the load generator and the doubles run in this
 * process; Redis is a throwaway redis-server on a free port. Everything binds to 127.0.0.1.
 * --cpu-hog keeps one more core busy for the whole run (a machine busy with something else).
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
import {
  cpuOf,
  machineCpu,
  productNodeOptions,
  ROOT,
  startBridge,
  startRedis,
  startScript,
  WORK_DIR,
  type RedisServer,
  type Subject,
} from './lib/procs.js';
import { startCpuHog } from './lib/cpu-hog.js';
import { describeMachine, type Machine } from './lib/machine.js';
import { fmtInt, fmtMB, fmtMs, fmtPct, median, percentile } from './lib/stats.js';

const { values: argv } = parseArgs({
  options: {
    reps: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'cpu-hog': { type: 'boolean', default: false },
    'latency-share': { type: 'string', default: '0.5' },
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
  /** The latency goals are judged at this share of the ceiling measured in the same run (--latency-share: others). */
  latencyShare: Number(argv['latency-share']),
  /** The fixed rate the goals were first set at, kept for comparison. */
  latencyRate: 1_000,
  /** Messages of the ceiling run a latency-only run measures its rate from. */
  shortCeilingMessages: 5_000,
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
if (!(P.latencyShare > 0 && P.latencyShare <= 1))
  throw new Error(`--latency-share: expected a number in (0, 1], got "${argv['latency-share']}"`);
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

/** The bridge runs with the product's NODE_OPTIONS (the Docker image's heap cap) unless a comparison run lifts them. */
const PRODUCT_NODE_OPTIONS = productNodeOptions();
let bridgeNodeOptions = PRODUCT_NODE_OPTIONS;
/** More node options for the bridge (a leak hunt, an experiment); on the command line, they win over NODE_OPTIONS. */
const bridgeNodeArgs: string[] = process.env.BENCH_BRIDGE_NODE_ARGS?.split(' ').filter(Boolean) ?? [];

function bridgeFor(
  direction: Direction,
  extra: { role?: 'all' | 'ingress' | 'worker'; prefix?: string; limited?: boolean; label?: string } = {},
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
    cpuProfileName: extra.label ?? direction,
    nodeOptions: bridgeNodeOptions,
    nodeArgs: bridgeNodeArgs,
  });
}

/**
 * Sends a warm-up load (JIT, connection pools) and waits until it was delivered (unless the subject
 * only answers), then forgets it.
 */
async function warmUp(direction: Direction, baseUrl: string, path?: string, delivers = true): Promise<void> {
  const w = load(direction, baseUrl, P.warmup / P.conversations, 'w');
  if (path) for (const list of w.requests) for (const r of list) r.url = `${baseUrl}${path}`;
  await closedLoop({ client, requests: w.requests, deadlineMs: 120_000 });
  if (delivers) await waitDelivered(direction, P.warmup, 120_000);
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

/**
 * With --profile: notes the measured window (monotonic µs, the clock V8's profiles use), its
 * messages and the CPU time the process really used in it (/proc: a profile's samples also count
 * the time the thread waited for a core) next to the bridge's profile, so that profile-summary
 * leaves out start-up and warm-up and gives true µs per message.
 */
function profileWindow(subject: Subject): (messages: number) => void {
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const cpuFrom = cpuOf(subject.pid);
  return (messages) => {
    if (!subject.cpuProfile) return;
    const toUs = Number(process.hrtime.bigint() / 1000n);
    const cpuMs = cpuOf(subject.pid) - cpuFrom;
    writeFileSync(`${subject.cpuProfile}.window.json`, JSON.stringify({ fromUs, toUs, messages, cpuMs }));
  };
}

interface ThroughputRun {
  /** CPU used while `messages` were sent and delivered. */
  cpu: CpuUse;
  messages: number;
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
    const profiled = profileWindow(bridge);
    const run = await closedLoop({ client, requests: l.requests, deadlineMs: 300_000 });
    await waitDelivered(direction, P.messages, 300_000);
    const end = performance.now();
    const used = cpu();
    profiled(P.messages);
    const figures = verify(l.expected, arrivals(direction));
    return {
      cpu: used,
      messages: P.messages,
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
function startCeiling(direction: Direction, mode: 'direct' | 'http'): Promise<Subject> {
  return startScript('ceiling.ts', {
    ...targetOf(direction),
    BENCH_REDIS_URL: redis.url,
    BENCH_PREFIX: `ceil${++prefixSeq}`,
    BENCH_MODE: mode,
    BENCH_CONCURRENCY: '50',
  });
}

async function throughputCeiling(direction: Direction, mode: 'direct' | 'http', messages = P.messages): Promise<ThroughputRun> {
  await clean();
  const ceiling = await startCeiling(direction, mode);
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
    const r = await run(P.conversations, messages / P.conversations, 'm');
    await waitDelivered(direction, messages, 300_000);
    const end = performance.now();
    return {
      cpu: cpu(),
      messages,
      msgPerS: (messages / (end - r.started)) * 1000,
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
      messages: P.messages,
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
  /** Offered msg/s. */
  rate: number;
  ackP50: number;
  ackP99: number;
  e2eP50: number;
  e2eP99: number;
  /** The subject's GC during the measured window (the bridge's; none for raw BullMQ): pause count and total ms, by kind. */
  gc: Record<string, { count: number; ms: number }>;
  /** This process's (load generator + doubles) event-loop delay p99, ms. */
  generatorLagP99: number;
  cpu: CpuUse;
  failures: number;
  peakRss: number;
  figures: Figures;
}

/** Interleaves the conversations (message k goes to conversation k mod 50); keys[k] is message k's text. */
function interleave(l: Load, tag: string): { sequence: { conversation: number; request: Request }[]; keys: string[] } {
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
}

type GcStats = Record<string, { count: number; ms: number }>;

/**
 * An open loop at a fixed rate against a running subject; end-to-end = from the webhook POST
 * leaving to the double accepting the delivery. gcOf: the subject's GC pauses so far, if it tells.
 * A subject that only answers (the floor) delivers nothing: its end-to-end figures are NaN.
 */
async function openLoopLatency(
  direction: Direction,
  rate: number,
  subject: Subject,
  o: { gcOf?: () => Promise<GcStats>; delivers?: boolean } = {},
): Promise<LatencyRun> {
  const { gcOf, delivers = true } = o;
  await warmUp(direction, subject.url, undefined, delivers);
  // Then the same open loop for a while, unmeasured: latency is reported for the steady state.
  const warm = interleave(load(direction, subject.url, Math.ceil(P.latencyWarmup / P.conversations), 'v'), 'v');
  await openLoop(client, warm.sequence, rate);
  if (delivers) await waitDelivered(direction, warm.sequence.length, 120_000);
  blinger.reset();
  tg.reset();

  const perConversation = Math.ceil(P.latencyMessages / P.conversations);
  const l = load(direction, subject.url, perConversation, 'l');
  const { sequence, keys: keyOf } = interleave(l, 'l');
  const index = new Map(keyOf.map((k, i) => [k, i]));
  const arrivedAt = new Float64Array(sequence.length).fill(Number.NaN);
  // Timestamps each acceptance as it happens: the k-th wait resolves on the double's k-th accept.
  const track = (async () => {
    for (let k = 1; delivers && k <= sequence.length; k++) {
      await waitDelivered(direction, k, 120_000);
      const key = direction === 'inbound' ? blinger.received[k - 1]!.data : tg.sent[k - 1]!.text!;
      const i = index.get(key);
      if (i !== undefined && Number.isNaN(arrivedAt[i]!)) arrivedAt[i] = performance.now();
    }
  })();
  const gcBefore = (await gcOf?.()) ?? {};
  const lag = monitorEventLoopDelay({ resolution: 1 });
  lag.enable();
  const cpu = cpuMeter(subject.pid);
  const profiled = profileWindow(subject);
  const run = await openLoop(client, sequence, rate);
  await track;
  const cpuUsed = cpu();
  profiled(sequence.length);
  lag.disable();
  const gcAfter = (await gcOf?.()) ?? {};
  const gc: GcStats = {};
  for (const [kind, a] of Object.entries(gcAfter))
    gc[kind] = { count: a.count - (gcBefore[kind]?.count ?? 0), ms: a.ms - (gcBefore[kind]?.ms ?? 0) };
  const e2e: number[] = [];
  for (let i = 0; delivers && i < sequence.length; i++) e2e.push(arrivedAt[i]! - run.dueAt[i]!);
  if (process.env.BENCH_DUMP) {
    // Per-message timings for offline analysis: [due ms from start, ack ms, end-to-end ms].
    const rows = Array.from({ length: sequence.length }, (_, i) => [
      Math.round(run.dueAt[i]! - run.startedAt),
      +run.ackOf[i]!.toFixed(2),
      +(e2e[i] ?? Number.NaN).toFixed(2),
    ]);
    writeFileSync(join(WORK_DIR, `latency-${direction}-${Date.now()}.json`), JSON.stringify(rows));
  }
  return {
    rate,
    ackP50: percentile(run.acks, 50),
    ackP99: percentile(run.acks, 99),
    e2eP50: percentile(e2e, 50),
    e2eP99: percentile(e2e, 99),
    gc,
    generatorLagP99: lag.percentile(99) / 1e6,
    cpu: cpuUsed,
    failures: run.failures,
    peakRss: subject.peakRss(),
    figures: verify(l.expected, arrivals(direction)),
  };
}

async function latencyBridge(direction: Direction, rate: number): Promise<LatencyRun> {
  await clean();
  const bridge = await bridgeFor(direction, { label: `latency-${direction}-${Math.round(rate)}` });
  try {
    return await openLoopLatency(direction, rate, bridge, { gcOf: () => gcStats(bridge.url) });
  } finally {
    await bridge.stop();
  }
}

/**
 * Raw BullMQ with the same webhooks in front, under the same open loop: what a queue of jobs costs
 * at that rate by itself. It keeps no order, so its figures are not checked.
 */
async function latencyCeiling(direction: Direction, rate: number): Promise<LatencyRun> {
  await clean();
  const ceiling = await startCeiling(direction, 'http');
  try {
    return await openLoopLatency(direction, rate, ceiling);
  } finally {
    await ceiling.stop();
  }
}

/**
 * What this machine allows under the same open loop, for comparison: a server that answers at once
 * (the acknowledgement floor), and the naive forwarder (no queue, no Redis: one POST on, then the
 * answer), whose end-to-end is the floor of any bridge that forwards.
 */
async function latencyFloor(direction: Direction, rate: number, subject: 'answer' | 'naive'): Promise<LatencyRun> {
  await clean();
  const child = await startScript(`${subject}.ts`, targetOf(direction));
  try {
    return await openLoopLatency(direction, rate, child, { delivers: subject === 'naive' });
  } finally {
    await child.stop();
  }
}

/** The bridge's GC pauses so far (prom-client's nodejs_gc_duration_seconds), by kind. */
async function gcStats(baseUrl: string): Promise<GcStats> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const out: GcStats = {};
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
  const bridge = await bridgeFor('outbound', { limited: true, label: 'pacing' });
  try {
    // Warm the bridge's connections to the double first: the steady state is what is measured,
    // not the first burst's connection set-up.
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
  const ingress = await bridgeFor('inbound', { role: 'ingress', prefix, label: 'memory-ingress' });
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

    worker = await bridgeFor('inbound', { role: 'worker', prefix, label: 'memory-worker' });
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

/** How this run was set up beyond the machine (the bridge's node options, the CPU hog, the latency rates). */
const settings: string[] = [];

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

## Settings

${settings.map((n) => `- ${n}`).join('\n')}

## Results

${table()}

What bounds these figures, and what was changed to reach them: README.md, section "Benchmarks".

## Checks

${notes.map((n) => `- ${n}`).join('\n')}

## Method

- **Inbound**: ${fmtInt(P.messages)} Telegram updates over ${P.conversations} private chats, POSTed to \`/telegram/:channelId\` by one sender per chat (the next update only after the previous one was acknowledged, as Telegram does per chat — ordering on); the bridge delivers to the Blinger double, which answers at once. msg/s = messages / (first POST → last message accepted by the double), after a ${fmtInt(P.warmup)}-message warm-up.
- **Outbound**: the same volume of agent replies POSTed to \`/blinger/:channelId\`; the bridge sends them to the Telegram double with no limits (the bridge's own pacing raised to match, but still run for every message: one Redis script to take the slot and one to confirm it after the answer, which raw BullMQ does not do).
- **Ceiling**: raw BullMQ on the same Redis — \`queue.add\` (one job per message, one sequential producer per conversation, in the subject's own process) → \`Worker\` (concurrency 50) → axios POST (keep-alive) of the same body to the same double. No order, no dedupe, no validation, no pacing. "Ceiling with webhooks" puts the same webhook POSTs as the bridge gets in front of \`queue.add\`, so it differs from the bridge only in what happens between the two HTTP hops.
- **CPU per delivered message**: the subject process's CPU time (user + system, \`/proc/<pid>/stat\`) from the first POST of a throughput run to its last delivery, divided by the messages delivered; the bridge's against raw BullMQ's (the ceiling above), each direction. The throughput subjects take turns (the bridge's run 1, the ceiling's run 1, …, then run 2 of each) and each ratio is a run against the ceiling's run beside it, so that a machine that slows down for a few minutes (a VM's neighbours) slows both.
- **Naive**: an HTTP server that forwards each webhook POST with one axios POST before answering. No queue: nothing is durable and nothing is retried.
- **Latency**: an open loop offering ${fmtPct(P.latencyShare)} of the ceiling's msg/s measured in the same run (each direction its own ceiling; with \`--only\` but no \`ceiling\`, one ${fmtInt(P.shortCeilingMessages)}-message ceiling run first), and once more ${fmtInt(P.latencyRate)} msg/s for comparison: ${fmtInt(P.latencyMessages)} messages round-robin over ${P.conversations} chats, sent on a 1 ms tick whatever the answers (a chat's next message waits for the previous answer, and latencies count from when a message was due), after ${fmtInt(P.latencyWarmup)} unmeasured messages at the same rate. Acknowledgement = webhook POST → HTTP 200; end-to-end = the same POST leaving → the double accepting the delivery (both clocks in the load generator's process). For comparison, the same open loop at the same share against raw BullMQ with the same webhooks in front (the ceiling's \`http\` mode): what a queue of jobs costs at that rate by itself, without order. And the machine's floor at the same share: a server that reads each POST and answers 200 at once (\`bench/children/answer.ts\`: what the scheduler, the loopback and the load generator add to any server's acknowledgement), and the naive forwarder (no queue, no Redis: one POST on before the answer — the end-to-end floor of anything that forwards).
- **Pacing**: ${fmtInt(P.pacingReplies)} replies over ${P.pacingChats} chats against a Telegram double enforcing 30 msg/s per bot and 3 per 3 s per chat, with the bridge's default limits (Telegram's own; how the pacer counts: bench/README.md), after 30 warm-up replies; sustained msg/s = the middle 90 % of the sends over their time span; overall = (n − 1) / (first → last send), which includes the start and the tail where only a few chats, each held to ~1 msg/s, have replies left.
- **Memory**: RSS is the peak resident set (VmHWM) of the bridge process under the throughput and latency loads (and, for comparison, once more for outbound without the image's \`NODE_OPTIONS\`). Then ${fmtInt(P.backlog)} updates are queued through an ingress-only bridge (no worker): Redis \`used_memory\` growth per message (lane entries, the 24 h \`update_id\` dedupe marks, the ${P.conversations} lane jobs); then a worker-only bridge drains that backlog and its peak RSS is recorded. Raw BullMQ's bytes per job (the same bodies, \`addBulk\`) for comparison.
- The bridge runs as deployed (\`node bin/blinger-bridge.js start\`, compiled, configured through the environment and a \`BRIDGE_CONFIG\` file) with the Docker image's \`NODE_OPTIONS\` (read from the Dockerfile), \`LOG_LEVEL=${P.logLevel}\` written to a file, and production defaults otherwise (\`WORKER_CONCURRENCY=50\`).
`;
}

// ------------------------------------------------------------------------------------- main

/** Runs fn P.reps times back to back (interleaving scenarios would mix warm caches) and logs each result. */
async function repeat<T>(name: string, fn: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < P.reps; i++) out.push(await runOnce(name, i, fn));
  return out;
}

async function runOnce<T>(name: string, i: number, fn: () => Promise<T>): Promise<T> {
  checkDeadline();
  const r = await fn();
  const rounded = JSON.stringify(r, (k, v: unknown) =>
    typeof v === 'number' ? Math.round(v * 100) / 100 : k === 'figures' ? undefined : v,
  );
  log(`${name} ${i + 1}/${P.reps}: ${rounded}`);
  return r;
}

/**
 * Repetition i of each subject runs before repetition i + 1 of any, so that the machine's drift
 * (a VM's neighbours come and go over minutes) weighs on the bridge and on its ceiling alike;
 * their ratios are then taken run by run (pairedRatios).
 */
async function interleaved<T>(subjects: { scenario: Scenario; name: string; run: () => Promise<T> }[]): Promise<T[][]> {
  const out = subjects.map(() => [] as T[]);
  for (let i = 0; i < P.reps; i++)
    for (const [k, s] of subjects.entries()) if (only.has(s.scenario)) out[k]!.push(await runOnce(s.name, i, s.run));
  return out;
}

interface LatencyScenario {
  /** The raw-BullMQ msg/s the rate derives from, and where that figure came from. */
  ceiling: { msgPerS: number; source: string };
  /** Runs at P.latencyShare of the ceiling, where the goals are judged. */
  atShare: LatencyRun[];
  /** Runs at the fixed P.latencyRate, for comparison. */
  atFixedRate: LatencyRun[];
  /** Raw BullMQ with webhooks at the same share, for comparison: what the architecture costs at that rate. */
  ceilingAtShare: LatencyRun[];
  /** A server that answers at once, and the naive forwarder, at the same share: this machine's floor. */
  answerAtShare: LatencyRun[];
  naiveAtShare: LatencyRun[];
}

interface Results {
  inbound: ThroughputRun[];
  outbound: ThroughputRun[];
  ceilIn: ThroughputRun[];
  ceilOut: ThroughputRun[];
  ceilHttpIn: ThroughputRun[];
  ceilHttpOut: ThroughputRun[];
  naiveIn: ThroughputRun[];
  naiveOut: ThroughputRun[];
  latency: Partial<Record<Direction, LatencyScenario>>;
  pace: PacingRun[];
  mem: MemoryRun[];
  /** Outbound once more without the product's NODE_OPTIONS, for the memory comparison. */
  uncapped?: { throughput: ThroughputRun; latency: LatencyRun };
}

/** This run's ceiling for a direction; without the ceiling scenario, one short ceiling run now. */
async function ceilingForLatency(direction: Direction, measured: ThroughputRun[]): Promise<LatencyScenario['ceiling']> {
  if (measured.length)
    return { msgPerS: median(measured.map((r) => r.msgPerS)), source: `the median of this run's ${measured.length} ceiling run(s)` };
  const short = await throughputCeiling(direction, 'direct', P.shortCeilingMessages);
  log(`ceiling ${direction} (short, for the latency rate): ${fmtInt(short.msgPerS)} msg/s`);
  return { msgPerS: short.msgPerS, source: `one ${fmtInt(P.shortCeilingMessages)}-message ceiling run (--only without ceiling)` };
}

async function latencyScenario(direction: Direction, ceilingRuns: ThroughputRun[]): Promise<LatencyScenario> {
  const ceiling = await ceilingForLatency(direction, ceilingRuns);
  const rate = Math.round(ceiling.msgPerS * P.latencyShare);
  settings.push(
    `latency ${direction}: ${fmtInt(rate)} msg/s = ${fmtPct(P.latencyShare)} of the ceiling's ${fmtInt(ceiling.msgPerS)} msg/s (${ceiling.source}); and ${fmtInt(P.latencyRate)} msg/s for comparison`,
  );
  return {
    ceiling,
    atShare: await repeat(`latency ${direction} at ${fmtInt(rate)} msg/s`, () => latencyBridge(direction, rate)),
    atFixedRate: await repeat(`latency ${direction} at ${fmtInt(P.latencyRate)} msg/s`, () => latencyBridge(direction, P.latencyRate)),
    ceilingAtShare: await repeat(`latency ${direction}, raw BullMQ with webhooks at ${fmtInt(rate)} msg/s`, () =>
      latencyCeiling(direction, rate),
    ),
    answerAtShare: await repeat(`latency ${direction}, a server that answers at once, at ${fmtInt(rate)} msg/s`, () =>
      latencyFloor(direction, rate, 'answer'),
    ),
    naiveAtShare: await repeat(`latency ${direction}, the naive forwarder at ${fmtInt(rate)} msg/s`, () =>
      latencyFloor(direction, rate, 'naive'),
    ),
  };
}

/** Outbound once more without NODE_OPTIONS: what the image's heap cap saves. */
async function uncappedOutbound(): Promise<Results['uncapped']> {
  if (!PRODUCT_NODE_OPTIONS) return undefined;
  bridgeNodeOptions = undefined;
  try {
    const uncapped = { throughput: await throughputBridge('outbound'), latency: await latencyBridge('outbound', P.latencyRate) };
    log(
      `outbound without NODE_OPTIONS: ${fmtInt(uncapped.throughput.msgPerS)} msg/s, peak RSS ${fmtMB(uncapped.throughput.peakRss)} / ${fmtMB(uncapped.latency.peakRss)}`,
    );
    return uncapped;
  } finally {
    bridgeNodeOptions = PRODUCT_NODE_OPTIONS;
  }
}

async function runScenarios(): Promise<Results> {
  const when = async <T>(scenario: Scenario, name: string, fn: () => Promise<T>) => (only.has(scenario) ? repeat(name, fn) : []);
  const throughputOf = async (direction: Direction) => {
    const [bridge = [], ceiling = [], ceilingHttp = [], naive = []] = await interleaved([
      { scenario: direction, name: direction, run: () => throughputBridge(direction) },
      { scenario: 'ceiling', name: `ceiling ${direction}`, run: () => throughputCeiling(direction, 'direct') },
      { scenario: 'ceiling', name: `ceiling ${direction} (webhooks)`, run: () => throughputCeiling(direction, 'http') },
      { scenario: 'naive', name: `naive ${direction}`, run: () => throughputNaive(direction) },
    ]);
    return { bridge, ceiling, ceilingHttp, naive };
  };
  const { bridge: inbound, ceiling: ceilIn, ceilingHttp: ceilHttpIn, naive: naiveIn } = await throughputOf('inbound');
  const { bridge: outbound, ceiling: ceilOut, ceilingHttp: ceilHttpOut, naive: naiveOut } = await throughputOf('outbound');
  // After the ceiling: the latency rate is a share of it.
  const latency: Results['latency'] = {};
  if (only.has('latency')) {
    latency.inbound = await latencyScenario('inbound', ceilIn);
    latency.outbound = await latencyScenario('outbound', ceilOut);
  }
  const pace = await when('pacing', 'pacing', () => pacing());
  const mem = await when('memory', 'memory', () => memory());
  const uncapped = only.has('memory') ? await uncappedOutbound() : undefined;
  return { inbound, outbound, ceilIn, ceilOut, ceilHttpIn, ceilHttpOut, naiveIn, naiveOut, latency, pace, mem, uncapped };
}

const msgs = (n: number) => `${fmtInt(n)} msg/s`;
const ms = (n: number) => `${fmtMs(n)} ms`;
const micros = (n: number) => `${fmtInt(n)} µs`;
const largest = (list: number[]) => Math.max(...list);
const RSS_GOAL = 150 * 1024 * 1024;
const gcLine = (r: LatencyRun) =>
  Object.entries(r.gc)
    .filter(([, g]) => g.count > 0)
    .map(([k, g]) => `${k} ${g.count}× ${g.ms.toFixed(0)} ms`)
    .join(', ');

/** A msg/s row when there are runs; returns their median (NaN without). */
function msgPerSRow(measure: string, runs: ThroughputRun[]): number {
  return runs.length
    ? row(
        measure,
        runs.map((r) => r.msgPerS),
        msgs,
      )
    : Number.NaN;
}

function throughputRows(r: Results): void {
  msgPerSRow('inbound msg/s (Telegram webhook → bridge → Blinger)', r.inbound);
  msgPerSRow('outbound msg/s (Blinger webhook → bridge → Telegram)', r.outbound);
  msgPerSRow('ceiling inbound msg/s (raw BullMQ: add → Worker(50) → POST)', r.ceilIn);
  msgPerSRow('ceiling outbound msg/s (raw BullMQ)', r.ceilOut);
  msgPerSRow('ceiling with webhooks, inbound msg/s', r.ceilHttpIn);
  msgPerSRow('ceiling with webhooks, outbound msg/s', r.ceilHttpOut);
  msgPerSRow('naive inbound msg/s (direct POST, no queue)', r.naiveIn);
  msgPerSRow('naive outbound msg/s (direct POST, no queue)', r.naiveOut);
  const ratio = (measure: string, runs: ThroughputRun[], ceiling: ThroughputRun[], minimum?: number) => {
    if (!runs.length || !ceiling.length) return;
    const ratios = pairedRatios(
      runs.map((x) => x.msgPerS),
      ceiling.map((x) => x.msgPerS),
    );
    if (minimum === undefined) row(measure, ratios, fmtPct);
    else row(measure, ratios, fmtPct, `≥ ${fmtPct(minimum)}`, (m) => m >= minimum);
  };
  ratio('inbound / ceiling', r.inbound, r.ceilIn, 0.85);
  ratio('outbound / ceiling', r.outbound, r.ceilOut);
  ratio('inbound / ceiling with webhooks', r.inbound, r.ceilHttpIn);
  ratio('outbound / ceiling with webhooks', r.outbound, r.ceilHttpOut);
}

/** Run i against the ceiling's run i (they ran side by side: interleaved), else against its median. */
function pairedRatios(values: number[], ceiling: number[]): number[] {
  const paired = values.length === ceiling.length;
  return values.map((v, i) => v / (paired ? ceiling[i]! : median(ceiling)));
}

/** The subject's CPU per delivered message in µs, one figure per run. */
const cpuPerMessage = (runs: ThroughputRun[]) => runs.map((x) => (x.cpu.subject / x.messages) * 1000);

/** The bridge's CPU per delivered message against raw BullMQ's, same run: the goal is to spend no more. */
function cpuRows(direction: Direction, bridge: ThroughputRun[], ceiling: ThroughputRun[]): void {
  if (bridge.length) row(`bridge CPU per delivered message, ${direction}`, cpuPerMessage(bridge), micros);
  if (!ceiling.length) return;
  row(`ceiling CPU per delivered message, ${direction} (raw BullMQ)`, cpuPerMessage(ceiling), micros);
  if (bridge.length)
    row(
      `bridge / ceiling CPU per message, ${direction}`,
      pairedRatios(cpuPerMessage(bridge), cpuPerMessage(ceiling)),
      fmtPct,
      '≤ 100 %',
      (m) => m <= 1,
    );
}

function latencyNote(what: string, runs: LatencyRun[]): void {
  const failures = runs.reduce((a, x) => a + x.failures, 0);
  const gc = runs.some((x) => Object.keys(x.gc).length)
    ? `; GC in the measured ${runs.map((x) => `${(x.cpu.wall / 1000).toFixed(0)} s`).join(' / ')}: ${runs.map(gcLine).join(' / ')}`
    : '';
  notes.push(
    `${what}: ${failures} requests not acknowledged${gc}; load generator's own event-loop delay p99 ${runs.map((x) => `${x.generatorLagP99.toFixed(1)} ms`).join(' / ')}; CPU per message ${runs.map((x) => micros((x.cpu.subject / P.latencyMessages) * 1000)).join(' / ')} (${runs.map((x) => (x.cpu.subject / x.cpu.wall).toFixed(2)).join(' / ')} of a core); other processes on the machine ${runs.map((x) => (x.cpu.other / x.cpu.wall).toFixed(2)).join(' / ')} cores`,
  );
}

/** ack and end-to-end p50/p99 at one rate; the goals apply only at the share of the ceiling. */
function latencyRowsAt(direction: Direction, label: string, runs: LatencyRun[], goals: boolean): void {
  const v = (f: (x: LatencyRun) => number) => runs.map(f);
  const goal = (limitMs: number): [target?: string, ok?: (m: number) => boolean] => (goals ? [`≤ ${limitMs} ms`, (m) => m <= limitMs] : []);
  row(
    `${direction} at ${label}: ack p50`,
    v((x) => x.ackP50),
    ms,
  );
  row(
    `${direction} at ${label}: ack p99`,
    v((x) => x.ackP99),
    ms,
    ...goal(5),
  );
  row(
    `${direction} at ${label}: end-to-end p50`,
    v((x) => x.e2eP50),
    ms,
  );
  row(
    `${direction} at ${label}: end-to-end p99`,
    v((x) => x.e2eP99),
    ms,
    ...goal(15),
  );
  latencyNote(`latency ${direction} at ${label}, bridge`, runs);
}

function latencyRows(r: Results): void {
  for (const direction of ['inbound', 'outbound'] as const) {
    const l = r.latency[direction];
    if (!l) continue;
    const rate = l.atShare[0]?.rate ?? Number.NaN;
    const share = `${fmtPct(P.latencyShare)} of ceiling (${msgs(rate)})`;
    latencyRowsAt(direction, share, l.atShare, true);
    latencyRowsAt(direction, `${msgs(P.latencyRate)} (comparison)`, l.atFixedRate, false);
    ceilingLatencyRows(direction, share, l);
    floorLatencyRows(direction, share, l);
  }
}

/** What the machine allows at the same rate: a server that answers at once, and the naive forwarder. */
function floorLatencyRows(direction: Direction, share: string, l: LatencyScenario): void {
  const v = (runs: LatencyRun[], f: (x: LatencyRun) => number) => runs.map(f);
  if (l.answerAtShare.length) {
    const what = `${direction} at ${share}, a server that answers at once (the machine's floor)`;
    row(
      `${what}: ack p99`,
      v(l.answerAtShare, (x) => x.ackP99),
      ms,
    );
    latencyNote(`latency ${what}`, l.answerAtShare);
  }
  if (l.naiveAtShare.length) {
    const what = `${direction} at ${share}, the naive forwarder (no queue, no Redis)`;
    row(
      `${what}: ack p99`,
      v(l.naiveAtShare, (x) => x.ackP99),
      ms,
    );
    row(
      `${what}: end-to-end p99`,
      v(l.naiveAtShare, (x) => x.e2eP99),
      ms,
    );
    latencyNote(`latency ${what}`, l.naiveAtShare);
  }
}

/** Raw BullMQ with webhooks at the same rate: its p99s, and CPU per message against the bridge's. */
function ceilingLatencyRows(direction: Direction, share: string, l: LatencyScenario): void {
  if (!l.ceilingAtShare.length) return;
  const v = (runs: LatencyRun[], f: (x: LatencyRun) => number) => runs.map(f);
  const perMessage = (x: LatencyRun) => (x.cpu.subject / P.latencyMessages) * 1000;
  row(
    `${direction} at ${share}, raw BullMQ with webhooks: ack p99`,
    v(l.ceilingAtShare, (x) => x.ackP99),
    ms,
  );
  row(
    `${direction} at ${share}, raw BullMQ with webhooks: end-to-end p99`,
    v(l.ceilingAtShare, (x) => x.e2eP99),
    ms,
  );
  row(`${direction} at ${share}: bridge CPU per message`, v(l.atShare, perMessage), micros);
  row(`${direction} at ${share}: raw BullMQ with webhooks CPU per message`, v(l.ceilingAtShare, perMessage), micros);
  latencyNote(`latency ${direction} at ${share}, raw BullMQ with webhooks`, l.ceilingAtShare);
}

function memoryRows(r: Results): void {
  const settingsLabel = [
    PRODUCT_NODE_OPTIONS ? `NODE_OPTIONS=${PRODUCT_NODE_OPTIONS} as the image` : 'no NODE_OPTIONS',
    ...bridgeNodeArgs,
  ].join(' ');
  const latencyRuns = (d: Direction) => [...(r.latency[d]?.atShare ?? []), ...(r.latency[d]?.atFixedRate ?? [])];
  for (const direction of ['inbound', 'outbound'] as const) {
    const rss = [...r[direction], ...latencyRuns(direction)].map((x) => x.peakRss);
    if (rss.length)
      row(
        `bridge peak RSS, ${direction} throughput + latency runs (largest; ${settingsLabel})`,
        rss,
        fmtMB,
        '≤ 150 MB',
        (m) => m <= RSS_GOAL,
        largest,
      );
  }
  if (r.uncapped) {
    row(
      'bridge peak RSS, outbound runs without NODE_OPTIONS (comparison, 1 run each)',
      [r.uncapped.throughput.peakRss, r.uncapped.latency.peakRss],
      fmtMB,
      '',
      undefined,
      largest,
    );
    notes.push(
      `outbound without NODE_OPTIONS: ${msgs(r.uncapped.throughput.msgPerS)}; at ${msgs(P.latencyRate)} ack p99 ${ms(r.uncapped.latency.ackP99)}, end-to-end p99 ${ms(r.uncapped.latency.e2eP99)}; GC ${gcLine(r.uncapped.latency)}`,
    );
  }
  if (!r.mem.length) return;
  const v = (f: (x: MemoryRun) => number) => r.mem.map(f);
  row(
    `worker peak RSS draining ${fmtInt(P.backlog)} queued (largest)`,
    v((x) => x.workerPeakRss),
    fmtMB,
    '≤ 150 MB',
    (m) => m <= RSS_GOAL,
    largest,
  );
  row(
    'Redis bytes per queued message (all keys)',
    v((x) => x.bytesPerMessage),
    fmtInt,
  );
  row(
    '  of which the lane entry',
    v((x) => x.laneBytesPerMessage),
    fmtInt,
  );
  row(
    '  of which the update_id dedupe mark (kept 24 h)',
    v((x) => x.dedupeBytesPerMessage),
    fmtInt,
  );
  row(
    'raw BullMQ bytes per queued job (same body)',
    v((x) => x.bullmqBytesPerJob),
    fmtInt,
  );
  notes.push(
    `memory: ingest of ${fmtInt(P.backlog)} through an ingress-only bridge ${r.mem.map((x) => msgs(x.ingestMsgPerS)).join(' / ')} (ingress peak RSS ${r.mem.map((x) => fmtMB(x.ingressPeakRss)).join(' / ')}); drain by a worker-only bridge ${r.mem.map((x) => msgs(x.drainMsgPerS)).join(' / ')}`,
  );
}

function pacingRows(pace: PacingRun[]): void {
  if (!pace.length) return;
  const perS = (n: number) => `${n.toFixed(2)} msg/s`;
  row(
    "pacing: sustained msg/s against Telegram's 30/s per bot",
    pace.map((x) => x.sustained),
    perS,
    '≥ 29 msg/s',
    (m) => m >= 29,
  );
  row(
    "pacing: overall msg/s (with ramp-up and the last chats' tail)",
    pace.map((x) => x.overall),
    perS,
  );
  row(
    'pacing: 429 answers',
    pace.map((x) => x.tooMany),
    fmtInt,
    '0',
    (m) => m === 0,
  );
  notes.push(`pacing: ${fmtInt(P.pacingReplies)} replies took ${pace.map((x) => `${x.seconds.toFixed(1)} s`).join(' / ')}`);
}

function cpuNote(name: string, runs: ThroughputRun[], cores: number): void {
  if (!runs.length) return;
  const per = (k: keyof CpuUse) => median(runs.map((x) => (x.cpu[k] / x.messages) * 1000));
  const busy = median(runs.map((x) => (x.cpu.subject + x.cpu.redis + x.cpu.bench) / x.cpu.wall));
  const other = median(runs.map((x) => x.cpu.other / x.cpu.wall));
  notes.push(
    `CPU per message, ${name}: subject ${per('subject').toFixed(0)} µs, Redis ${per('redis').toFixed(0)} µs, load generator + double ${per('bench').toFixed(0)} µs (together ${busy.toFixed(2)} of ${cores} cores busy; other processes ${other.toFixed(2)} cores)`,
  );
}

/** Other processes' CPU in the measured windows: on a busy machine the figures measure the contention. */
function busyMachineWarning(r: Results): void {
  const throughput = [r.inbound, r.outbound, r.ceilIn, r.ceilOut, r.ceilHttpIn, r.ceilHttpOut, r.naiveIn, r.naiveOut].flat();
  const latency = [r.latency.inbound, r.latency.outbound].flatMap((l) =>
    l ? [...l.atShare, ...l.atFixedRate, ...l.ceilingAtShare, ...l.answerAtShare, ...l.naiveAtShare] : [],
  );
  const others = [...throughput, ...latency].map((x) => x.cpu.other / x.cpu.wall);
  if (!others.length || Math.max(...others) < 0.25) return;
  settings.push(
    `**busy machine**: other processes used ${median(others).toFixed(2)} cores (median; up to ${Math.max(...others).toFixed(2)}) during the measured windows${argv['cpu-hog'] ? ', the CPU hog included' : ''}: latencies and msg/s measure that contention too (see "other processes" under Checks)`,
  );
}

function report(r: Results, machine: Machine): void {
  busyMachineWarning(r);
  throughputRows(r);
  cpuRows('inbound', r.inbound, r.ceilIn);
  cpuRows('outbound', r.outbound, r.ceilOut);
  latencyRows(r);
  memoryRows(r);
  pacingRows(r.pace);
  for (const [name, runs] of [
    ['bridge inbound', r.inbound],
    ['ceiling inbound', r.ceilIn],
    ['ceiling with webhooks inbound', r.ceilHttpIn],
    ['naive inbound', r.naiveIn],
    ['bridge outbound', r.outbound],
    ['ceiling outbound', r.ceilOut],
    ['ceiling with webhooks outbound', r.ceilHttpOut],
    ['naive outbound', r.naiveOut],
  ] as const)
    cpuNote(name, runs, machine.cores);
  const latencyRuns = [r.latency.inbound, r.latency.outbound].flatMap((l) => (l ? [...l.atShare, ...l.atFixedRate] : []));
  figuresSummary(
    'inbound throughput runs',
    r.inbound.map((x) => x.figures),
  );
  figuresSummary(
    'outbound throughput runs',
    r.outbound.map((x) => x.figures),
  );
  figuresSummary(
    'naive runs (order only holds because each sender waits)',
    [...r.naiveIn, ...r.naiveOut].map((x) => x.figures),
  );
  figuresSummary(
    'latency runs',
    latencyRuns.map((x) => x.figures),
  );
  figuresSummary(
    'pacing runs',
    r.pace.map((x) => x.figures),
  );
}

async function startWorld(): Promise<void> {
  redis = await startRedis();
  tg = await startTelegramDouble({ seed: 1 });
  tgLimited = await startTelegramDouble({ seed: 2, enforceLimits: true });
  blinger = await startBlingerDouble({ token: BLINGER_TOKEN, channelId: CHANNEL_ID, seed: 3 });
}

async function stopWorld(): Promise<void> {
  client.close();
  await Promise.all([tg?.close(), tgLimited?.close(), blinger?.close()]);
  await redis?.stop();
}

async function main(): Promise<void> {
  const startedAt = new Date();
  // First of all, so that it runs for the whole run; stopped in finally (and by procs.ts on exit and signals).
  const hog = argv['cpu-hog'] ? startCpuHog() : undefined;
  if (hog) log(`bench: CPU hog on (pid ${hog.pid}): one more core kept busy for the whole run`);
  try {
    await startWorld();
    const machine = await describeMachine(redis.client);
    log(`bench: ${P.reps} repetition(s), ${fmtInt(P.messages)} messages per throughput run; work dir ${WORK_DIR}`);
    settings.push(
      `bridge: ${PRODUCT_NODE_OPTIONS ? `\`NODE_OPTIONS=${PRODUCT_NODE_OPTIONS}\`, the Docker image's (the product's own settings)` : 'no NODE_OPTIONS (the Docker image sets none)'}${bridgeNodeArgs.length ? `; node options from BENCH_BRIDGE_NODE_ARGS: \`${bridgeNodeArgs.join(' ')}\`` : ''}`,
    );
    const results = await runScenarios();
    settings.push(
      hog
        ? `CPU hog **on** (\`--cpu-hog\`): one more process kept ${(await hog.stop()).toFixed(2)} cores busy on average for the whole run`
        : 'CPU hog off',
    );
    report(results, machine);
    const seconds = (Date.now() - startedAt.getTime()) / 1000;
    process.stdout.write(`\n${settings.map((n) => `- ${n}`).join('\n')}\n\n${table()}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
    writeFileSync(OUT, markdown(machine, startedAt, seconds));
    log(`written to ${OUT}`);
    const failed = notes.some((n) => n.includes('**FAILED**'));
    if (failed) process.exitCode = 1;
    // The subjects' logs and configs: kept when something failed (or on request), else removed.
    if (failed || process.env.BENCH_KEEP || process.env.BENCH_DUMP) log(`logs kept in ${WORK_DIR}`);
    else rmSync(WORK_DIR, { recursive: true, force: true });
  } finally {
    await hog?.stop();
    await stopWorld();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  console.error(`bench: failed; the subjects' logs are in ${WORK_DIR}`);
  process.exit(1);
});
