/**
 * The processes of a benchmark run: a throwaway Redis, the bridge (the real CLI from dist/, as
 * deployed), and the comparison subjects (raw BullMQ ceiling, naive forwarder) as child scripts.
 * Each subject runs alone in its own process so that its CPU and memory are its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, spawnRedis } from '../../test/helpers/net.js';
import { pause } from './load.js';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const WORK_DIR = mkdtempSync(join(tmpdir(), 'bb-bench-'));

/** Every process this benchmark started, so none outlives it (even on Ctrl-C). */
const children = new Set<ChildProcess>();

export function track(proc: ChildProcess): ChildProcess {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
}

export function killAll(): void {
  for (const p of children) p.kill('SIGKILL');
}

process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

/**
 * The NODE_OPTIONS the product runs with: the Docker image's `ENV NODE_OPTIONS=...` (README's
 * bare-metal advice says the same). Read from the Dockerfile so the bench cannot drift from it;
 * undefined when the image sets none.
 */
export function productNodeOptions(): string | undefined {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const runtimeStage = dockerfile.slice(dockerfile.search(/^FROM\s(?![\s\S]*^FROM\s)/m));
  const env = [...runtimeStage.matchAll(/^ENV\s+(.*)$/gim)].map((m) => m[1]!).join(' ');
  const value = /(?:^|\s)NODE_OPTIONS=("[^"]*"|\S+)/.exec(env)?.[1];
  return value?.replace(/^"|"$/g, '');
}

export interface RedisServer {
  url: string;
  client: Redis;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export async function startRedis(extraArgs: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  const proc = track(await spawnRedis(port, ['--maxmemory-policy', 'noeviction', ...extraArgs]));
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { maxRetriesPerRequest: null });
  await client.ping();
  return {
    url,
    client,
    proc,
    async stop() {
      client.disconnect();
      if (proc.exitCode === null) {
        proc.kill('SIGKILL');
        await once(proc, 'exit');
      }
    },
  };
}

/** Peak (VmHWM) and current (VmRSS) resident memory of a process, in bytes. */
export function memoryOf(pid: number): { peak: number; rss: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
    return { peak: kb('VmHWM'), rss: kb('VmRSS') };
  } catch {
    return { peak: Number.NaN, rss: Number.NaN };
  }
}

/** CPU time (user + system) a process has used so far, in ms. */
export function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces): state is field 3; utime 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

/** CPU time (user + system + irq, all cores) the whole machine has spent so far, in ms. */
export function machineCpu(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: everything but idle and iowait.
    return ((f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

export interface Subject {
  url: string;
  pid: number;
  proc: ChildProcess;
  /** Where the process writes its V8 CPU profile when it exits (bridges started with cpuProfileDir). */
  cpuProfile?: string;
  /** Peak RSS so far (VmHWM), bytes. */
  peakRss(): number;
  stop(): Promise<void>;
}

let logSeq = 0;

function logFile(name: string): { path: string; fd: number } {
  const path = join(WORK_DIR, `${name}-${++logSeq}.log`);
  return { path, fd: openSync(path, 'a') };
}

async function stopChild(proc: ChildProcess, graceMs = 15_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await once(proc, 'exit');
  clearTimeout(timer);
}

function exitedEarly(proc: ChildProcess, what: string, log: string): Promise<never> {
  return new Promise((_, reject) => {
    proc.once('exit', (code, signal) => {
      let tail = '';
      try {
        tail = readFileSync(log, 'utf8').slice(-2000);
      } catch {
        /* no log */
      }
      reject(new Error(`${what} exited (${code ?? signal}) before it was ready:\n${tail}`));
    });
  });
}

export interface BridgeProcessOptions {
  redisUrl: string;
  prefix: string;
  channelId: string;
  blinger: { url: string; token: string };
  telegram: { token: string; apiRoot: string; limits?: Record<string, unknown> };
  role?: 'all' | 'ingress' | 'worker';
  logLevel?: string;
  concurrency?: number;
  /** Write a V8 CPU profile of the bridge into this directory when it exits. */
  cpuProfileDir?: string;
  /** The profile's file is <cpuProfileName>-<n>.cpuprofile, so that it says which scenario it is. */
  cpuProfileName?: string;
  /** NODE_OPTIONS of the bridge process, as a deployment sets it (e.g. the Docker image's heap cap). */
  nodeOptions?: string;
  /** More node options (e.g. --heapsnapshot-signal=SIGUSR2 for a leak hunt); they win over nodeOptions. */
  nodeArgs?: string[];
}

let profileSeq = 0;

function profilePath(o: BridgeProcessOptions): string | undefined {
  return o.cpuProfileDir ? join(o.cpuProfileDir, `${o.cpuProfileName ?? 'bridge'}-${++profileSeq}.cpuprofile`) : undefined;
}

/** The bridge as deployed: `node bin/blinger-bridge.js start`, configured through the environment. */
export async function startBridge(o: BridgeProcessOptions): Promise<Subject> {
  const port = await freePort();
  const configPath = join(WORK_DIR, `bridge-${port}.json`);
  const adapter: Record<string, unknown> = { type: 'telegram', token: o.telegram.token, mode: 'webhook', apiRoot: o.telegram.apiRoot };
  if (o.telegram.limits) adapter.limits = o.telegram.limits;
  writeFileSync(
    configPath,
    JSON.stringify({
      channels: [{ id: o.channelId, blinger: { url: o.blinger.url, token: o.blinger.token }, adapter, allowPrivateUrls: true }],
    }),
  );
  const log = logFile(`bridge-${o.role ?? 'all'}`);
  const cpuProfile = profilePath(o);
  const profileArgs = cpuProfile ? ['--cpu-prof', '--cpu-prof-dir', dirname(cpuProfile), '--cpu-prof-name', basename(cpuProfile)] : [];
  const nodeArgs = [...profileArgs, ...(o.nodeArgs ?? [])];
  const proc = track(
    spawn(process.execPath, [...nodeArgs, join(ROOT, 'bin/blinger-bridge.js'), 'start', '--role', o.role ?? 'all'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        REDIS_URL: o.redisUrl,
        REDIS_PREFIX: o.prefix,
        PORT: String(port),
        HOST: '127.0.0.1',
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        MEDIA_SECRET: 'bench-media-secret-0123456789abcdef',
        BRIDGE_CONFIG: configPath,
        LOG_LEVEL: o.logLevel ?? 'info',
        WORKER_CONCURRENCY: String(o.concurrency ?? 50),
        ...(o.nodeOptions ? { NODE_OPTIONS: o.nodeOptions } : {}),
      },
      stdio: ['ignore', log.fd, log.fd],
    }),
  );
  closeSync(log.fd);
  const url = `http://127.0.0.1:${port}`;
  const ready = (async () => {
    const until = performance.now() + 60_000;
    while (performance.now() < until) {
      try {
        const res = await fetch(`${url}/readyz`);
        if (res.status === 200) return;
      } catch {
        /* not listening yet */
      }
      await pause(50);
    }
    throw new Error(`bridge not ready within 60 s (log: ${log.path})`);
  })();
  try {
    await Promise.race([ready, exitedEarly(proc, 'bridge', log.path)]);
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return { ...subject(proc, url), cpuProfile };
}

function subject(proc: ChildProcess, url: string): Subject {
  proc.removeAllListeners('exit');
  return { url, pid: proc.pid!, proc, peakRss: () => memoryOf(proc.pid!).peak, stop: () => stopChild(proc) };
}

/**
 * A comparison subject in bench/children/, run with tsx. It prints "ready <port>" once listening
 * (or "ready" when it serves no HTTP) and "done" lines the caller may wait for.
 */
export async function startScript(script: string, env: Record<string, string>): Promise<Subject & { lines: AsyncIterable<string> }> {
  const log = logFile(script.replace(/\W+/g, '-'));
  const proc = track(
    spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/children', script)], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', log.fd],
    }),
  );
  closeSync(log.fd);
  const lines = lineReader(proc);
  const first = await Promise.race([lines.next(), exitedEarly(proc, script, log.path)]);
  const m = /^ready(?: (\d+))?$/.exec(first.done ? '' : first.value);
  if (!m) {
    proc.kill('SIGKILL');
    throw new Error(`${script}: expected "ready", got ${JSON.stringify(first.value)}`);
  }
  return { ...subject(proc, m[1] ? `http://127.0.0.1:${m[1]}` : ''), lines: { [Symbol.asyncIterator]: () => lines } };
}

function lineReader(proc: ChildProcess): AsyncIterator<string> {
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      queue.push(buf.slice(0, i).trim());
      buf = buf.slice(i + 1);
    }
    wake?.();
  });
  proc.stdout!.on('end', () => {
    ended = true;
    wake?.();
  });
  return {
    async next() {
      while (queue.length === 0 && !ended) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      const value = queue.shift();
      return value === undefined ? { done: true, value: undefined } : { done: false, value };
    },
  };
}
